/**
 * node dist/core/minicrawl/cli.js --out DIR [--size 1] [--seed 1] [--crawls A,B,…]
 * Writes a miniature crawl and prints its summary as JSON (timing goes to stderr).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CRAWLS } from '../../config/crawls';
import { generateMiniCrawl } from './generate';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      size: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      crawls: { type: 'string' },
    },
  });
  if (values.out === undefined) throw new Error('--out DIR is required');
  const started = process.hrtime.bigint();
  const summary = await generateMiniCrawl({
    outDir: values.out,
    size: Number(values.size),
    seed: Number(values.seed),
    crawls: values.crawls === undefined ? DEFAULT_CRAWLS : values.crawls.split(',').map((c) => c.trim()),
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.stderr.write(`mini-crawl written to ${values.out} in ${seconds.toFixed(1)} s\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`mini-crawl: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
