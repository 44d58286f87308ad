#!/usr/bin/env node
/**
 * The `twampy` executable. Exit codes: 0 every target answered; 1 some target lost every
 * packet; 2 usage error; 3 runtime error (cannot bind, a feature the socket layer cannot deliver).
 */
import { hideBin } from 'yargs/helpers';
import { buildParser } from './parser.js';

// `twampy sender ... | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

buildParser(hideBin(process.argv))
  .parseAsync()
  .catch((err: Error) => {
    process.stderr.write(`twampy: error: ${err.message}\n`);
    process.exit(err.name === 'UsageError' || err.name === 'RangeError' ? 2 : 3);
  });
