/** Stage timings, dedup and the mixture beside Table 2.2, as charts. */
import type { Chart } from './chart';
import type { RunReport } from './report';

export function stageChart(stages: RunReport['stages']): Chart {
  return {
    id: 'stage-timings',
    title: 'Wall time per stage',
    spec: {
      width: 480,
      height: { step: 22 },
      data: { values: stages.filter((s) => s.seconds !== undefined) },
      mark: { type: 'bar', color: '#fdbf6f' },
      encoding: {
        y: { field: 'stage', type: 'nominal', sort: null, title: null },
        x: { field: 'seconds', type: 'quantitative', title: 'seconds' },
      },
    },
  };
}

/** "2", "4–7"; the last bucket is open: "256+". */
export const clusterSizeLabel = (b: { lo: number; hi: number }, last: boolean): string =>
  last ? `${b.lo}+` : b.hi - b.lo <= 1 ? String(b.lo) : `${b.lo}–${b.hi - 1}`;

export function clusterChart(d: NonNullable<RunReport['dedup']>): Chart {
  return {
    id: 'cluster-sizes',
    title: 'Near-duplicate clusters by size (all datasets)',
    spec: {
      width: 420,
      height: 200,
      data: {
        values: d.clusterSizes.map((b, i, all) => ({
          size: clusterSizeLabel(b, i === all.length - 1),
          clusters: b.clusters,
        })),
      },
      mark: { type: 'bar', color: '#6a3d9a' },
      encoding: {
        x: {
          field: 'size',
          type: 'ordinal',
          sort: null,
          title: 'documents in the cluster',
          axis: { labelAngle: 0 },
        },
        y: { field: 'clusters', type: 'quantitative', title: 'clusters' },
      },
    },
  };
}

export function removalChart(d: NonNullable<RunReport['dedup']>): Chart {
  const values = d.perDataset.flatMap((ds) =>
    Object.entries(ds.dropped).map(([reason, n]) => ({
      dataset: ds.dataset,
      reason,
      documents: n,
      rate: ds.in > 0 ? n / ds.in : 0,
    })),
  );
  return {
    id: 'dedup-removal',
    title: 'Documents removed by dedup, per dataset',
    spec: {
      width: 420,
      height: 200,
      data: { values },
      mark: 'bar',
      encoding: {
        x: {
          field: 'dataset',
          type: 'nominal',
          sort: d.perDataset.map((ds) => ds.dataset),
          title: null,
          axis: { labelAngle: 0 },
          scale: { domain: d.perDataset.map((ds) => ds.dataset) },
        },
        y: {
          field: 'rate',
          type: 'quantitative',
          aggregate: 'sum',
          title: 'share of the dataset removed',
          axis: { format: '%' },
        },
        color: { field: 'reason', type: 'nominal', title: null, scale: { scheme: 'set2' } },
      },
    },
  };
}

function groupedBars(
  id: string,
  title: string,
  yTitle: string,
  format: string,
  values: { source: string; series: string; value: number }[],
  series: string[],
): Chart {
  return {
    id,
    title,
    spec: {
      width: 400,
      height: 220,
      data: { values },
      mark: 'bar',
      encoding: {
        x: { field: 'source', type: 'nominal', sort: null, title: null, axis: { labelAngle: 0 } },
        xOffset: { field: 'series', type: 'nominal', sort: series },
        y: { field: 'value', type: 'quantitative', title: yTitle, axis: { format } },
        color: {
          field: 'series',
          type: 'nominal',
          sort: series,
          title: null,
          scale: { domain: series, range: ['#bdbdbd', '#80b1d3', '#1f78b4'].slice(-series.length) },
        },
      },
    },
  };
}

export function mixtureCharts(m: NonNullable<RunReport['mixture']>): Chart[] {
  const weights = m.sources.flatMap((s) => [
    { source: s.source, series: 'Table 2.2', value: s.paper.weight },
    { source: s.source, series: 'target (normalised)', value: s.targetWeight },
    { source: s.source, series: 'achieved', value: s.achievedWeight ?? 0 },
  ]);
  const epochs = m.sources.flatMap((s) => [
    { source: s.source, series: 'Table 2.2', value: s.paper.epochs },
    { source: s.source, series: 'this run', value: s.epochs },
  ]);
  return [
    groupedBars('mixture-weights', 'Weight in the training mix', 'weight', '%', weights, [
      'Table 2.2',
      'target (normalised)',
      'achieved',
    ]),
    groupedBars('mixture-epochs', 'Epochs elapsed over the mixture', 'epochs', '.2~f', epochs, [
      'Table 2.2',
      'this run',
    ]),
  ];
}
