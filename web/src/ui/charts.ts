// Small SVG charts for the dashboard, drawn in the browser with no library: bars over
// labels (runs per day, rates) and histograms (an output metric's distribution). Each
// chart is one <svg role="img"> with a label that says what it shows; every bar has a
// <title> with its exact value.
import { binEdges, shortNumber, ticks } from '../lib/chartScale';

const NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export interface Bar {
  label: string;
  value: number;
  title?: string; // the tooltip; defaults to "label: value"
  tone?: 'ok' | 'bad' | 'warn';
}

export interface BarChartOptions {
  label: string; // what the chart shows (its accessible name)
  width?: number;
  height?: number;
  integers?: boolean;
  max?: number; // a fixed top (rates: 1)
  format?: (v: number) => string;
  testid?: string;
}

const PAD = { left: 34, right: 6, top: 8, bottom: 20 };

export function barChart(bars: Bar[], opts: BarChartOptions): SVGSVGElement {
  const width = opts.width ?? 360;
  const height = opts.height ?? 130;
  const format = opts.format ?? shortNumber;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': opts.label, class: 'chart' });
  if (opts.testid) root.setAttribute('data-testid', opts.testid);
  root.append(svg('title', {}, opts.label));
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const dataMax = Math.max(0, ...bars.map((b) => b.value));
  const axis = ticks(opts.max ?? dataMax, 4, opts.integers);
  const top = axis[axis.length - 1] || 1;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  for (const t of axis) {
    root.append(svg('line', { x1: PAD.left, x2: width - PAD.right, y1: y(t), y2: y(t), class: 'grid' }));
    root.append(svg('text', { x: PAD.left - 4, y: y(t) + 3, 'text-anchor': 'end', class: 'tick' }, format(t)));
  }
  if (bars.length === 0) {
    root.append(svg('text', { x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, 'text-anchor': 'middle', class: 'empty' }, 'no data'));
    return root;
  }
  const slot = plotW / bars.length;
  const barW = Math.max(1, Math.min(28, slot * 0.8));
  // Label a handful of bars only, so that the labels never overlap.
  const every = Math.max(1, Math.ceil(bars.length / Math.max(1, Math.floor(plotW / 60))));
  bars.forEach((b, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    const rect = svg('rect', { x, y: y(b.value), width: barW, height: Math.max(0, PAD.top + plotH - y(b.value)), class: `bar ${b.tone ?? ''}`, 'data-label': b.label, 'data-value': b.value });
    rect.append(svg('title', {}, b.title ?? `${b.label}: ${format(b.value)}`));
    root.append(rect);
    if (i % every === 0 || i === bars.length - 1)
      root.append(svg('text', { x: x + barW / 2, y: height - 6, 'text-anchor': 'middle', class: 'tick' }, b.label));
  });
  return root;
}

// A histogram of `bins` counts over equal bins from min to max.
export function histogram(bins: number[], min: number, max: number, opts: BarChartOptions): SVGSVGElement {
  // Every value the same: one bar at that value.
  if (!(max > min)) {
    const n = bins.reduce((a, b) => a + b, 0);
    return barChart([{ label: shortNumber(min), value: n, title: `${shortNumber(min)}: ${n}` }], { integers: true, ...opts });
  }
  const edges = binEdges(min, max, bins.length);
  const bars = bins.map((n, i) => ({
    label: shortNumber(edges[i]),
    value: n,
    title: `${shortNumber(edges[i])} – ${shortNumber(edges[i + 1])}: ${n}`,
  }));
  return barChart(bars, { integers: true, ...opts });
}
