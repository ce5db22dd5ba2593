/** Text rendering of a run's progress for `ccmix status` and the demo. */
import type { BuildMixtureProgress } from '../workflows';

export function bar(done: number, total: number, width = 24): string {
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

export function renderProgress(progress: BuildMixtureProgress): string {
  const lines = [`stage: ${progress.stage}`, `  discover ${bar(progress.discover.done, progress.discover.total)} crawls`];
  for (const [crawl, p] of Object.entries(progress.crawls)) {
    const rejected = p.keysRejected > 0 ? `, ${p.keysRejected} keys rejected` : '';
    const state = p.failed ? `FAILED: ${p.failed}` : `${p.wetFilesSelected} WET files selected${rejected}`;
    lines.push(`    ${crawl}: ${state}`);
  }
  return lines.join('\n');
}
