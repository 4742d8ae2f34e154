/**
 * Small bar charts drawn as inline SVG: shapes and attributes only, so the
 * strict CSP (no inline styles, nothing from other sites) holds. Each chart
 * carries a sentence for screen readers and a <title> per bar.
 */
const SVG = 'http://www.w3.org/2000/svg';
const W = 480;
const H = 140;
const PAD_BOTTOM = 18;

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export interface Bar {
  /** Under the bar (shown for some bars only, so labels never overlap). */
  label: string;
  value: number;
  /** Tooltip and accessible text for this bar. */
  title: string;
}

export function barChart(bars: Bar[], summary: string, opts: { labelEvery?: number } = {}): SVGSVGElement {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const slot = W / Math.max(1, bars.length);
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, class: 'bars' });
  svg.append(el('line', { x1: 0, y1: H - PAD_BOTTOM + 0.5, x2: W, y2: H - PAD_BOTTOM + 0.5, class: 'axis' }));
  const every = opts.labelEvery ?? 1;
  bars.forEach((b, i) => {
    const h = b.value === 0 ? 0 : Math.max(2, ((H - PAD_BOTTOM - 6) * b.value) / max);
    const rect = el('rect', { x: i * slot + slot * 0.15, y: H - PAD_BOTTOM - h, width: slot * 0.7, height: h, class: 'bar' });
    const t = el('title', {});
    t.textContent = b.title;
    rect.append(t);
    svg.append(rect);
    // Counted from the newest bar, so the latest hour or day is always labelled; the end labels stay inside the box.
    if ((bars.length - 1 - i) % every === 0) {
      const anchor = i === 0 ? 'start' : i === bars.length - 1 ? 'end' : 'middle';
      const x = anchor === 'start' ? i * slot : anchor === 'end' ? (i + 1) * slot : i * slot + slot / 2;
      const text = el('text', { x, y: H - 4, 'text-anchor': anchor, class: 'tick' });
      text.textContent = b.label;
      svg.append(text);
    }
  });
  return svg;
}
