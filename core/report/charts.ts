/** Every chart the report has data for, in page order (each rendered by chart.ts). */
import type { Chart } from './chart';
import { clusterChart, mixtureCharts, removalChart, stageChart } from './pipeline-charts';
import { perCrawlChart, scoreChart } from './quality-charts';
import type { RunReport } from './report';

export function reportCharts(report: RunReport): Chart[] {
  const charts: Chart[] = [];
  if (report.stages.some((s) => s.seconds !== undefined)) charts.push(stageChart(report.stages));
  const q = report.quality;
  if (q && q.scoreBuckets.length > 0) charts.push(scoreChart(q));
  if (q && q.perCrawl.length > 0) charts.push(perCrawlChart(q));
  const d = report.dedup;
  if (d && d.clusterSizes.length > 0) charts.push(clusterChart(d));
  if (d && d.perDataset.length > 0) charts.push(removalChart(d));
  if (report.mixture && report.mixture.sources.length > 0) charts.push(...mixtureCharts(report.mixture));
  return charts;
}
