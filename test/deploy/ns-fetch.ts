/**
 * Runs inside a network namespace and fetches URLs for a test outside it: reads one JSON request
 * per stdin line ({id, url}) and writes one JSON answer per stdout line ({id, status, body}).
 * Exits when stdin closes.
 */
import { createInterface } from 'node:readline';

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const { id, url } = JSON.parse(line) as { id: number; url: string };
  fetch(url, { signal: AbortSignal.timeout(10_000) })
    .then(async (r) => ({ id, status: r.status, body: await r.text() }))
    .catch((e: unknown) => ({ id, status: 0, body: String(e) }))
    .then((answer) => process.stdout.write(`${JSON.stringify(answer)}\n`));
});
lines.on('close', () => process.exit(0));
