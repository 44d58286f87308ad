/**
 * `npm run bench`: runs every benchmark and prints one markdown table each. Each benchmark
 * measures its own baseline in the same run and reports ratios; these machines are shared and
 * noisy, so compare ratios, not absolute figures. BENCH=name,name selects some.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SUITES = ['responder', 'sender-cost', 'telemetry', 'native', 'soak'];

async function main(): Promise<void> {
  const only = process.env.BENCH?.split(',');
  for (const name of SUITES) {
    if (only && !only.includes(name)) continue;
    const file = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
    if (!existsSync(file)) continue;
    const mod = (await import(file)) as { run: () => Promise<string> };
    process.stdout.write(`\n## ${name}\n\n`);
    const t0 = Date.now();
    try {
      process.stdout.write((await mod.run()) + '\n');
    } catch (err) {
      process.stdout.write(`failed: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
    process.stdout.write(`\n(${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  }
}

void main();
