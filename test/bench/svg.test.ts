/**
 * bench/lib/svg.ts barChart, the door-throughput plot: one bar per measured
 * value, scaled to the panel's largest, "not measured" instead of a bar for
 * a missing value, and labels escaped (a label is data, not markup).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { barChart } from '../../bench/lib/svg.js';

const widths = (svg: string) => [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="18" fill="#1f6feb"/g)].map((m) => Number(m[1]));

test('bars are proportional to their values and a missing value is said, not drawn', () => {
  const svg = barChart(['WireGuard', 'AmneziaWG', 'Shadowsocks'], [
    { title: 'MB/s', unit: 'MB/s', values: [50, 150, NaN], notes: ['1.00× WG', '3.00× WG', ''], color: '#1f6feb' },
  ], { title: 'The price of each door' });
  const w = widths(svg);
  assert.equal(w.length, 2, 'one bar per measured value');
  assert.ok(Math.abs(w[1]! / w[0]! - 3) < 0.01, `150 is three times 50: ${w}`);
  assert.match(svg, /150 MB\/s {2}3\.00× WG/);
  assert.match(svg, /– \(not measured\)/);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && svg.trimEnd().endsWith('</svg>'));
});

test('labels and titles are escaped', () => {
  const svg = barChart(['<script>&'], [{ title: 'a<b', unit: 'x', values: [1], color: '#000' }], { title: 'T&T' });
  assert.ok(!svg.includes('<script>'));
  assert.match(svg, /&lt;script&gt;&amp;/);
  assert.match(svg, /a&lt;b/);
  assert.match(svg, /T&amp;T/);
});
