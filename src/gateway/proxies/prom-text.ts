/**
 * Reads Prometheus text exposition (format 0.0.4): the samples of one metric
 * name with their labels. Enough for reading a door server's own counters;
 * it refuses nothing it does not understand, it just skips it.
 */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

export function samplesOf(text: string, metric: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith(metric) || line.startsWith('#')) continue;
    const rest = line.slice(metric.length);
    let labelText = '';
    let valueText: string;
    if (rest.startsWith('{')) {
      const close = rest.lastIndexOf('}');
      if (close < 0) continue;
      labelText = rest.slice(1, close);
      valueText = rest.slice(close + 1).trim();
    } else if (rest.startsWith(' ')) {
      valueText = rest.trim();
    } else {
      continue; // another metric whose name merely starts with this one
    }
    const value = Number(valueText.split(/\s+/)[0]);
    if (!Number.isFinite(value)) continue;
    const labels: Record<string, string> = {};
    for (const m of labelText.matchAll(LABEL)) labels[m[1]!] = unescapeLabel(m[2]!);
    out.push({ labels, value });
  }
  return out;
}
