/**
 * Summarises a V8 .cpuprofile (from node --cpu-prof): top functions by self
 * time and by inclusive time. Used when a target is missed, to say what
 * bounds it.   node --import tsx bench/tools/cpuprofile-top.ts FILE [N]
 */
import { readFileSync } from 'node:fs';

process.stdout.on('error', () => process.exit(0)); // piped into head

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const [file, nArg] = process.argv.slice(2);
if (!file) throw new Error('usage: cpuprofile-top.ts FILE [N]');
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/work\/main\//, '').replace(/^file:\/\//, '')}:${n.callFrame.lineNumber + 1}`;
const selfBy = new Map<string, number>();
const inclBy = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  selfBy.set(label(n), (selfBy.get(label(n)) ?? 0) + us);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur)!);
    if (seen.has(l)) continue;
    seen.add(l);
    inclBy.set(l, (inclBy.get(l) ?? 0) + us);
  }
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const N = Number(nArg ?? 25);
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (total sampled ${(total / 1000).toFixed(0)} ms, wall ${((prof.endTime - prof.startTime) / 1000).toFixed(0)} ms)`);
  for (const [l, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, N)) console.log(`${(us / 1000).toFixed(0).padStart(8)} ms ${((us / total) * 100).toFixed(1).padStart(5)}%  ${l}`);
};
show('self time', selfBy);
show('inclusive time', inclBy);
