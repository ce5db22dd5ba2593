/**
 * A chart is a Vega-Lite spec, compiled and rendered to an SVG string in Node by Vega's headless
 * view (no DOM, no canvas, no network: every spec carries its data inline).
 */
import type { TopLevelSpec } from 'vega-lite' with { 'resolution-mode': 'import' };

/** A chart as its spec; `renderChart` turns it into inline SVG. */
export interface Chart {
  /** `data-chart` of its figure: what tests look for. */
  id: string;
  title: string;
  spec: TopLevelSpec;
}

// vega and vega-lite are published as ES modules only; CommonJS code reaches them through import().
const modules = async () => {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  return { vega, vegaLite };
};

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", sans-serif',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { orient: 'bottom', labelFontSize: 11, labelLimit: 0 },
} as const;

export async function renderChart(chart: Chart): Promise<string> {
  const { vega, vegaLite } = await modules();
  const compiled = vegaLite.compile({ ...chart.spec, config: CONFIG }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    // Inline SVG in HTML needs no namespace declarations: the page then names no URL at all.
    return svg.replace(/ xmlns(:xlink)?="[^"]*"/g, '');
  } finally {
    view.finalize();
  }
}

/** A legend for series named by `datum`, with fixed colours. */
export const legendScale = (domain: string[], range: string[]) => ({
  scale: { domain, range },
  title: null,
});
