/**
 * The QR code of the config, drawn in the page as SVG: it holds the private
 * key, so no server ever renders it. One <path> of horizontal runs keeps the
 * DOM small; shapes only, so the strict CSP (no inline styles) holds.
 */
import { create } from 'qrcode/lib/core/qrcode.js';

const SVG = 'http://www.w3.org/2000/svg';
const QUIET = 4; // modules of white border the QR standard asks for

export function qrSvg(text: string, label: string): SVGSVGElement {
  const { modules } = create(text, { errorCorrectionLevel: 'M' });
  const n = modules.size;
  let d = '';
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; ) {
      if (!modules.get(y, x)) {
        x++;
        continue;
      }
      let run = 1;
      while (x + run < n && modules.get(y, x + run)) run++;
      d += `M${x + QUIET} ${y + QUIET}h${run}v1h-${run}z`;
      x += run;
    }
  }
  const size = n + 2 * QUIET;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('shape-rendering', 'crispEdges');
  const bg = document.createElementNS(SVG, 'rect');
  bg.setAttribute('width', String(size));
  bg.setAttribute('height', String(size));
  bg.setAttribute('fill', '#fff');
  const fg = document.createElementNS(SVG, 'path');
  fg.setAttribute('d', d);
  fg.setAttribute('fill', '#000');
  svg.append(bg, fg);
  return svg;
}
