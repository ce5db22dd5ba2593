/**
 * `ccmix demo`: the main job on the embedded default. Generates the miniature crawl, starts the
 * real local services, runs buildMixture against the mirror through the worker, and says what
 * happened.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../config/schema';
import { generateMiniCrawl, type MiniCrawlSummary } from '../core/minicrawl';
import { REPO_ROOT } from '../core/paths';
import { loadSettings, mirrorUrl, servicesUp, temporalAddress } from '../infra/services';
import { connectClient, startBuildMixture, waitForResult } from './client';
import { renderProgress, renderRunSummary } from './render';

export const DEMO_CONFIG_PATH = path.join(REPO_ROOT, 'config/examples/demo.json');
/** The miniature crawl the demo serves: size 1 with the config's crawls. */
export const DEMO_CRAWL = { size: 1, seed: 1 } as const;

const seconds = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

async function ensureMiniCrawl(outDir: string, crawls: readonly string[]): Promise<MiniCrawlSummary> {
  const summaryPath = path.join(outDir, 'ground-truth', 'summary.json');
  if (existsSync(summaryPath)) {
    const existing = JSON.parse(readFileSync(summaryPath, 'utf8')) as MiniCrawlSummary;
    const same =
      existing.params.size === DEMO_CRAWL.size &&
      existing.params.seed === DEMO_CRAWL.seed &&
      JSON.stringify(existing.params.crawls) === JSON.stringify(crawls);
    if (same) return existing;
  }
  return generateMiniCrawl({ outDir, ...DEMO_CRAWL, crawls });
}

/** With `json`, the lines a person reads go to stderr and stdout holds the run's result alone. */
export async function runDemo({ json }: { json: boolean }): Promise<number> {
  const say = (line: string): void => void (json ? process.stderr : process.stdout).write(`${line}\n`);
  const started = Date.now();
  const config = parseConfig(JSON.parse(readFileSync(DEMO_CONFIG_PATH, 'utf8')));
  const settings = loadSettings();

  let t = Date.now();
  const crawl = await ensureMiniCrawl(settings.mirrorRoot, config.crawls);
  say(
    `mini crawl: ${crawl.files} WET files, ${crawl.records} records, ${(crawl.bytes / 2 ** 20).toFixed(1)} MiB ` +
      `in ${settings.mirrorRoot} (${seconds(t)})`,
  );

  t = Date.now();
  const statuses = await servicesUp(settings);
  for (const s of statuses) say(`service ${s.name.padEnd(8)} pid ${s.pid}  ${s.address}`);
  say(`services up (${seconds(t)})`);

  // The example config names the default mirror port; follow the one actually in use.
  const input = { ...config, source: { kind: 'http' as const, baseUrl: mirrorUrl(settings) } };
  t = Date.now();
  const client = await connectClient(temporalAddress(settings));
  const { workflowId, attached } = await startBuildMixture(client, input);
  const begun = attached ? 'already running, attached to' : 'started:';
  say(`buildMixture ${begun} ${workflowId} (watch it at http://${settings.host}:${settings.temporalUiPort})`);
  let last = '';
  const result = await waitForResult(client, workflowId, (progress) => {
    const text = renderProgress(progress).split('\n').slice(0, 3).join(' ').replace(/\s+/g, ' ');
    if (text !== last) say(text);
    last = text;
  });
  say(`buildMixture finished in ${seconds(t)}`);
  for (const line of renderRunSummary(result, config)) say(line);
  say(`storage root: ${path.resolve(REPO_ROOT, config.storageRoot)}`);
  say(`demo finished in ${seconds(started)}; services keep running (\`npx ccmix services down\` stops them)`);
  if (json) console.log(JSON.stringify({ workflowId, result }, null, 2));
  return 0;
}
