/** A tiny hand-written SVG line chart (no dependencies): log or linear axes, markers, legend. */

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: Array<{ x: number; y: number }>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  /** Optional horizontal band (e.g. a target range), in data units. */
  band?: { y0: number; y1: number; label: string; color: string };
  width?: number;
  height?: number;
  yMin?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceLinearTicks(min: number, max: number, n = 5): number[] {
  const span = max - min || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) ?? mag * 10;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

function fmt(v: number): string {
  if (v >= 1000) return `${Number((v / 1000).toPrecision(3))}k`.replace('.0k', 'k');
  if (v >= 1) return String(Number(v.toPrecision(3)));
  return String(Number(v.toPrecision(2)));
}

export function lineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 460;
  const m = { l: 70, r: 70, t: 40, b: 55 };
  const legendH = 18 * series.length + (o.band ? 18 : 0) + 10;
  const plotH = H - m.t - m.b - legendH;
  const plotW = W - m.l - m.r;
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.yLog || p.y > 0));
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y).concat(o.band ? [o.band.y0, o.band.y1] : []);
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  let yMin = o.yMin ?? Math.min(...ys);
  let yMax = Math.max(...ys);
  const tx = o.xLog ? Math.log10 : (v: number) => v;
  const ty = o.yLog ? Math.log10 : (v: number) => v;
  if (o.xLog) {
    xMin = 10 ** Math.floor(Math.log10(xMin));
    xMax = 10 ** Math.ceil(Math.log10(xMax));
  } else {
    const pad = (xMax - xMin) * 0.05 || 1;
    xMin -= pad;
    xMax += pad;
  }
  if (o.yLog) {
    yMin = 10 ** Math.floor(Math.log10(yMin));
    yMax = 10 ** Math.ceil(Math.log10(yMax));
  } else {
    yMin = o.yMin ?? 0;
    yMax = yMax * 1.15 || 1;
  }
  const X = (v: number) => m.l + ((tx(v) - tx(xMin)) / (tx(xMax) - tx(xMin) || 1)) * plotW;
  const Y = (v: number) => m.t + plotH - ((ty(v) - ty(yMin)) / (ty(yMax) - ty(yMin) || 1)) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(o.title)}</text>`);
  // Grid and ticks.
  const xTicks = o.xLog ? Array.from({ length: Math.round(Math.log10(xMax / xMin)) + 1 }, (_, i) => xMin * 10 ** i) : niceLinearTicks(xMin, xMax);
  const yTicks = o.yLog ? Array.from({ length: Math.round(Math.log10(yMax / yMin)) + 1 }, (_, i) => yMin * 10 ** i) : niceLinearTicks(yMin, yMax);
  for (const v of xTicks) {
    out.push(`<line x1="${X(v).toFixed(1)}" y1="${m.t}" x2="${X(v).toFixed(1)}" y2="${m.t + plotH}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${X(v).toFixed(1)}" y="${m.t + plotH + 16}" text-anchor="middle" fill="#444">${fmt(v)}</text>`);
  }
  for (const v of yTicks) {
    out.push(`<line x1="${m.l}" y1="${Y(v).toFixed(1)}" x2="${m.l + plotW}" y2="${Y(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${fmt(v)}</text>`);
  }
  if (o.band) {
    const y0 = Y(Math.max(o.band.y0, yMin));
    const y1 = Y(Math.min(o.band.y1, yMax));
    out.push(`<rect x="${m.l}" y="${Math.min(y0, y1).toFixed(1)}" width="${plotW}" height="${Math.abs(y0 - y1).toFixed(1)}" fill="${o.band.color}" opacity="0.18"/>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${m.l + plotW / 2}" y="${m.t + plotH + 36}" text-anchor="middle" fill="#222">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.t + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(o.yLabel)}</text>`);
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p.y) && (!o.yLog || p.y > 0)).sort((a, b) => a.x - b.x);
    if (pts.length === 0) continue;
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${X(p.x).toFixed(1)} ${Y(p.y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const p of pts) {
      out.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="3.5" fill="${s.color}"><title>${esc(`${s.label}: ${fmt(p.y)} at ${fmt(p.x)}`)}</title></circle>`);
      out.push(`<text x="${(X(p.x) + 6).toFixed(1)}" y="${(Y(p.y) - 6).toFixed(1)}" font-size="10" fill="${s.color}">${fmt(p.y)}</text>`);
    }
  }
  // Legend under the plot.
  let ly = m.t + plotH + 52;
  for (const s of series) {
    out.push(`<line x1="${m.l}" y1="${ly - 4}" x2="${m.l + 28}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2.2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${m.l + 36}" y="${ly}" fill="#222">${esc(s.label)}</text>`);
    ly += 18;
  }
  if (o.band) {
    out.push(`<rect x="${m.l}" y="${ly - 12}" width="28" height="10" fill="${o.band.color}" opacity="0.3"/>`);
    out.push(`<text x="${m.l + 36}" y="${ly}" fill="#222">${esc(o.band.label)}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface BarPanel {
  title: string;
  /** Unit shown after each value. */
  unit: string;
  /** One value per row label (NaN: not measured, drawn as "–"). */
  values: number[];
  /** Optional text after the value (e.g. "0.93× WireGuard"). */
  notes?: string[];
  color: string;
}

/** Horizontal bars: one row per label, one panel per measure side by side (e.g. throughput, CPU per GB). */
export function barChart(labels: string[], panels: BarPanel[], o: { title: string; subtitle?: string; width?: number }): string {
  const W = o.width ?? 980;
  const rowH = 30;
  const labelW = 220;
  const top = o.subtitle ? 74 : 56;
  const H = top + labels.length * rowH + 28;
  const panelW = (W - labelW - 20) / panels.length;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(o.title)}</text>`);
  if (o.subtitle) out.push(`<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${esc(o.subtitle)}</text>`);
  labels.forEach((l, i) => out.push(`<text x="${labelW - 8}" y="${top + i * rowH + rowH / 2 + 4}" text-anchor="end" fill="#222">${esc(l)}</text>`));
  panels.forEach((p, j) => {
    const x0 = labelW + j * panelW;
    const finite = p.values.filter((v) => Number.isFinite(v));
    const max = Math.max(...finite, 0) * 1.05 || 1;
    // Room on the right of the longest bar for its value and note.
    const barMax = panelW - 170;
    out.push(`<text x="${x0}" y="${top - 10}" font-weight="600" fill="#222">${esc(p.title)}</text>`);
    out.push(`<line x1="${x0}" y1="${top}" x2="${x0}" y2="${top + labels.length * rowH}" stroke="#888"/>`);
    p.values.forEach((v, i) => {
      const y = top + i * rowH + 6;
      const w = Number.isFinite(v) ? (v / max) * barMax : 0;
      if (w > 0) out.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 12}" fill="${p.color}"><title>${esc(`${labels[i]}: ${fmt(v)} ${p.unit}`)}</title></rect>`);
      const text = Number.isFinite(v) ? `${fmt(v)} ${p.unit}${p.notes?.[i] ? `  ${p.notes[i]}` : ''}` : '– (not measured)';
      out.push(`<text x="${(x0 + w + 6).toFixed(1)}" y="${y + rowH / 2}" fill="#222">${esc(text)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
