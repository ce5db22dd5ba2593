/**
 * report.html: one self-contained page (inline CSS, inline SVG charts, no script, no URL), so
 * it opens from a disk, an S3 console or an e-mail attachment alike.
 */
import { renderChart } from './chart';
import { reportCharts } from './charts';
import { clusterSizeLabel } from './pipeline-charts';
import type { RunReport } from './report';

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const integer = (n: number | null | undefined): string =>
  n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US');
export const percent = (x: number | null | undefined): string =>
  x === null || x === undefined ? '–' : `${(x * 100).toFixed(2)} %`;
const fixed = (x: number | null | undefined, digits = 3): string =>
  x === null || x === undefined ? '–' : x.toFixed(digits);
const billions = (n: number): string => `${(n / 1e9).toLocaleString('en-US')} B`;

/** A table cell carrying its exact value, so tests and scripts read what the page shows. */
const cell = (text: string, attrs: Record<string, string | number | null> = {}): string => {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => ` data-${k}="${escape(String(v))}"`)
    .join('');
  return `<td${a}>${escape(text)}</td>`;
};

const table = (head: string[], rows: string[], cls = ''): string =>
  `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${escape(h)}</th>`).join('')}</tr></thead>` +
  `<tbody>${rows.join('')}</tbody></table>`;

const kv = (pairs: [string, string][]): string =>
  `<dl>${pairs.map(([k, v]) => `<dt>${escape(k)}</dt><dd>${escape(v)}</dd>`).join('')}</dl>`;

const reasons = (byReason: Record<string, number>): string =>
  Object.entries(byReason)
    .map(([r, n]) => `${r} ${integer(n)}`)
    .join(', ') || 'none';

function stagesSection(r: RunReport): string {
  const rows = r.stages.map(
    (s) =>
      `<tr>${cell(s.stage)}${cell(s.startedAt)}${cell(s.endedAt ?? 'running when the report was written')}` +
      `${cell(s.seconds === undefined ? '–' : `${s.seconds.toFixed(1)} s`, { stage: s.stage, seconds: s.seconds ?? null })}</tr>`,
  );
  return `<h2>Stage timings</h2><!--chart:stage-timings-->${table(['stage', 'started', 'ended', 'wall time'], rows)}`;
}

function downloadSection(r: RunReport): string {
  const d = r.download;
  const facts = kv([
    ['crawls', `${integer(r.discover.crawls)} (${r.discover.crawlsFailed.length} failed to list)`],
    [
      'WET files',
      `${integer(r.discover.wetFilesListed)} listed, ${integer(r.discover.wetFilesSelected)} selected, ${integer(r.discover.keysRejected)} keys rejected`,
    ],
    [
      'downloaded',
      `${integer(d.ok)} of ${integer(d.files)} verified, ${(d.bytes / 2 ** 20).toFixed(1)} MiB, ${integer(d.retries)} retries`,
    ],
    ['quarantined', `${integer(d.quarantined)} (${reasons(d.quarantinedReasons)})`],
  ]);
  const failed = r.discover.crawlsFailed
    .map((f) => `<li>${escape(f.crawl)}: ${escape(f.reason)}</li>`)
    .join('');
  const q = r.quarantined;
  const files = q.total
    ? table(
        ['crawl', 'WET file', 'reason', 'retries'],
        q.files.map(
          (f) =>
            `<tr>${cell(f.crawl)}${cell(f.key, { key: f.key })}${cell(f.reason, { reason: f.reason })}${cell(String(f.retries))}</tr>`,
        ),
        'quarantined',
      ) +
      (q.total > q.files.length
        ? `<p>… and ${integer(q.total - q.files.length)} more (report.json lists ${q.files.length}).</p>`
        : '')
    : '<p class="quarantined-none">No file was quarantined.</p>';
  return `<h2>Discover and download</h2>${facts}${failed ? `<ul>${failed}</ul>` : ''}<h3>Quarantined files</h3>${files}`;
}

function groundTruthBlock(q: NonNullable<RunReport['quality']>): string {
  const g = q.groundTruth;
  if (!g.figures)
    return `<p class="ground-truth-none">No ground truth${g.note ? `: ${escape(g.note)}` : ''}.</p>`;
  const f = g.figures;
  return (
    `<p>Against the miniature crawl's labels (${escape(g.path ?? '')}): ${integer(f.matched)} scored documents matched, ${integer(f.high)} labelled high quality.</p>` +
    table(
      ['measure', 'value'],
      [
        `<tr>${cell('AUC of the score for "high quality"')}${cell(fixed(f.auc), { field: 'ground-truth-auc', value: f.auc })}</tr>`,
        `<tr>${cell('precision of the kept set (share labelled high)')}${cell(percent(f.keptPrecision), { field: 'kept-precision', value: f.keptPrecision })}</tr>`,
        `<tr>${cell('share labelled high before filtering')}${cell(percent(f.baseRate), { field: 'base-rate', value: f.baseRate })}</tr>`,
        `<tr>${cell('high-quality documents kept')}${cell(`${integer(f.keptHigh)} of ${integer(f.high)} (${percent(f.highRecall)})`)}</tr>`,
      ],
      'ground-truth',
    )
  );
}

function qualitySection(r: RunReport): string {
  const q = r.quality;
  if (!q)
    return `<h2>Quality filter</h2><p>The run stopped after ${escape(r.run.stopAfter)}: no classifier.</p>`;
  const c = q.classifier;
  return (
    `<h2>Quality filter</h2>` +
    `<p>Kept ${integer(q.documentsKept)} of ${integer(q.documentsIn)} Common Crawl documents by the Pareto rule (α = ${q.alpha}); dropped: ${escape(reasons(q.droppedByReason))}. Reference corpora: ${escape(q.references.map((x) => `${x.dataset} ${integer(x.documents)}`).join(', '))} documents.</p>` +
    `<!--chart:score-histogram--><!--chart:kept-per-crawl-->` +
    `<h3>Classifier</h3>` +
    table(
      ['measure', 'value'],
      [
        `<tr>${cell('held-out AUC (reference vs raw Common Crawl)')}${cell(fixed(c.holdoutAuc), { field: 'holdout-auc', value: c.holdoutAuc })}</tr>`,
        `<tr>${cell('precision / recall / F1 at 0.5')}${cell(`${fixed(c.precisionAt05)} / ${fixed(c.recallAt05)} / ${fixed(c.f1At05)}`)}</tr>`,
        `<tr>${cell('documents trained on / held out')}${cell(`${integer(c.trainDocuments)} / ${integer(c.holdoutDocuments)}`)}</tr>`,
      ],
    ) +
    `<h3>Against ground truth</h3>${groundTruthBlock(q)}`
  );
}

function dedupSection(r: RunReport): string {
  const d = r.dedup;
  if (!d) return `<h2>Dedup</h2><p>The run stopped after ${escape(r.run.stopAfter)}: no dedup.</p>`;
  const rows = d.perDataset.map(
    (x) =>
      `<tr>${cell(x.dataset)}${cell(integer(x.in))}${cell(integer(x.kept))}${cell(integer(x.removed))}` +
      `${cell(percent(x.removalRate), { dataset: x.dataset, field: 'removal-rate', value: x.removalRate })}${cell(integer(x.clusters))}${cell(reasons(x.dropped))}</tr>`,
  );
  const sizes = d.clusterSizes
    .map((b, i, all) => [clusterSizeLabel(b, i === all.length - 1), b.clusters] as const)
    .filter(([, n]) => n > 0)
    .map(([label, n]) => `${label}: ${n}`)
    .join(', ');
  return (
    `<h2>Dedup</h2><p>Kept ${integer(d.rowsKept)} of ${integer(d.rowsIn)} documents; removed ${escape(reasons(d.droppedByReason))}; ` +
    `${integer(d.candidatePairs)} candidate pairs, ${integer(d.verifiedPairs)} verified. Clusters by size: ${escape(sizes || 'none')}.</p>` +
    `<!--chart:cluster-sizes--><!--chart:dedup-removal-->` +
    table(['dataset', 'in', 'kept', 'removed', 'removal rate', 'clusters', 'removed by reason'], rows)
  );
}

function mixtureSection(r: RunReport): string {
  const m = r.mixture;
  if (!m) return `<h2>The mixture</h2><p>The run stopped after ${escape(r.run.stopAfter)}: no mixture.</p>`;
  const rows = m.sources.map((s) => {
    const v = (field: string, text: string, value: number | null) =>
      cell(text, { source: s.source, field, value });
    return (
      `<tr>${cell(s.source)}${v('paperWeight', percent(s.paper.weight), s.paper.weight)}${v('targetWeight', percent(s.targetWeight), s.targetWeight)}` +
      `${v('achievedWeight', percent(s.achievedWeight), s.achievedWeight)}${v('achievedPrefixWeight', percent(s.achievedPrefixWeight), s.achievedPrefixWeight)}` +
      `${v('paperTokens', billions(s.paper.tokens), s.paper.tokens)}${v('tokensPerEpoch', integer(s.tokensPerEpoch), s.tokensPerEpoch)}${v('tokens', integer(s.tokens), s.tokens)}` +
      `${v('rows', integer(s.rows), s.rows)}${v('paperEpochs', fixed(s.paper.epochs, 2), s.paper.epochs)}${v('epochs', fixed(s.epochs, 2), s.epochs)}</tr>`
    );
  });
  const checks = m.checks
    .map(
      (c) =>
        `<li class="${c.ok ? 'ok' : 'failed'}">${escape(c.check)}: ${c.ok ? 'ok' : 'FAILED'}, ${escape(c.detail)}</li>`,
    )
    .join('');
  return (
    `<h2>The mixture beside Table 2.2</h2>` +
    `<p data-field="mixture-total" data-rows="${m.rows}" data-tokens="${m.tokens}">${integer(m.rows)} rows × ${integer(m.nCtx)} ids = ${integer(m.tokens)} tokens in ${integer(m.files)} Parquet file(s); ` +
    `${m.verified ? 'verified' : 'verification FAILED'}. Manifest: <code>${escape(m.manifest ?? '–')}</code></p>` +
    table(
      [
        'source',
        'paper weight',
        'target',
        'achieved',
        'first 10 %',
        'paper tokens',
        'tokens per epoch',
        'tokens',
        'rows',
        'paper epochs',
        'epochs',
      ],
      rows,
      'mixture',
    ) +
    `<!--chart:mixture-weights--><!--chart:mixture-epochs--><ul class="checks">${checks}</ul>`
  );
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:2rem auto;max-width:1100px;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
.meta{color:#666}table{border-collapse:collapse;margin:.6rem 0}th,td{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f6f6f6}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dt{color:#666}dd{margin:0}figure{display:inline-block;vertical-align:top;margin:1rem 1.5rem 1rem 0;max-width:100%;overflow-x:auto}figcaption{font-weight:600;margin-bottom:.3rem}
.checks .failed{color:#b00}table.quarantined td{white-space:normal;text-align:left}code{font-size:.85em;word-break:break-all}`;

export async function renderReportHtml(report: RunReport): Promise<string> {
  const rendered = new Map<string, string>();
  for (const chart of reportCharts(report)) {
    const svg = await renderChart(chart);
    rendered.set(
      chart.id,
      `<figure class="chart" data-chart="${chart.id}"><figcaption>${escape(chart.title)}</figcaption>${svg}</figure>`,
    );
  }
  const body = [
    stagesSection(report),
    downloadSection(report),
    qualitySection(report),
    dedupSection(report),
    mixtureSection(report),
  ]
    .join('\n')
    .replace(/<!--chart:([a-z-]+)-->/g, (_, id: string) => rendered.get(id) ?? '');
  const r = report.run;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ccmix report: ${escape(r.workflowId)}</title><style>${STYLE}</style></head>
<body><h1>ccmix run report: ${escape(r.name)}</h1>
<p class="meta">${escape(r.workflowId)} · written ${escape(r.generatedAt)} · storage root <code>${escape(r.storageRoot)}</code> · stop after ${escape(r.stopAfter)}</p>
${body}
</body></html>
`;
}
