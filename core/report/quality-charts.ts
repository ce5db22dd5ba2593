/** The quality filter's charts: the score histogram under the Pareto keep rule, kept per crawl. */
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };
import { legendScale, type Chart } from './chart';
import type { RunReport } from './report';

type Quality = NonNullable<RunReport['quality']>;

export function scoreChart(q: Quality): Chart {
  const series = [
    'documents scored',
    'documents kept',
    `P(keep) = (2 − s)^−${q.alpha}`,
    'observed keep rate',
  ];
  const color = legendScale(series, ['#a6cee3', '#1f78b4', '#e31a1c', '#33a02c']);
  const x = {
    field: 'lo',
    type: 'quantitative',
    bin: { binned: true, step: 0.1 },
    title: 'classifier score s',
  };
  return {
    id: 'score-histogram',
    title: 'Scores of Common Crawl documents, and the Pareto keep rule',
    spec: {
      width: 560,
      height: 260,
      layer: [
        {
          data: { values: q.scoreBuckets },
          layer: [
            {
              mark: 'bar',
              encoding: {
                x,
                x2: { field: 'hi' },
                y: { field: 'in', type: 'quantitative', title: 'documents' },
                color: { datum: series[0], ...color },
              },
            },
            {
              mark: 'bar',
              encoding: {
                x,
                x2: { field: 'hi' },
                y: { field: 'kept', type: 'quantitative' },
                color: { datum: series[1], ...color },
              },
            },
          ],
        },
        {
          layer: [
            {
              data: { values: q.keepCurve },
              mark: { type: 'line', strokeWidth: 2 },
              encoding: {
                x: { field: 'score', type: 'quantitative' },
                y: {
                  field: 'keep',
                  type: 'quantitative',
                  title: 'share kept',
                  scale: { domain: [0, 1] },
                  axis: { orient: 'right', format: '%' },
                },
                color: { datum: series[2], ...color },
              },
            },
            {
              data: {
                values: q.scoreBuckets
                  .filter((b) => b.keepRate !== null)
                  .map((b) => ({ mid: (b.lo + b.hi) / 2, rate: b.keepRate })),
              },
              mark: { type: 'point', filled: true, size: 50 },
              encoding: {
                x: { field: 'mid', type: 'quantitative' },
                y: { field: 'rate', type: 'quantitative', scale: { domain: [0, 1] } },
                color: { datum: series[3], ...color },
              },
            },
          ],
        },
      ],
      resolve: { scale: { y: 'independent' } },
    } as TopLevelSpec,
  };
}

export function perCrawlChart(q: Quality): Chart {
  const series = ['documents scored', 'documents kept'];
  const color = legendScale(series, ['#a6cee3', '#1f78b4']);
  const x = { field: 'crawl', type: 'nominal', sort: null, title: null, axis: { labelAngle: -60 } };
  return {
    id: 'kept-per-crawl',
    title: 'Kept documents per crawl',
    spec: {
      width: Math.max(560, 16 * q.perCrawl.length),
      height: 220,
      data: { values: q.perCrawl },
      layer: [
        {
          mark: 'bar',
          encoding: {
            x,
            y: { field: 'in', type: 'quantitative', title: 'documents' },
            color: { datum: series[0], ...color },
          },
        },
        {
          mark: 'bar',
          encoding: { x, y: { field: 'kept', type: 'quantitative' }, color: { datum: series[1], ...color } },
        },
      ],
    } as TopLevelSpec,
  };
}
