/**
 * The layering rules of DESIGN.md, checked on every module under src/: no
 * import circle (type-only imports count, as they do for a reader), and
 * src/core imports nothing outside src/core (no other DAMM module, no Node
 * built-in: the wizard runs it in a browser). Imports are read with the
 * TypeScript compiler's own pre-processor, the parser `tsc` uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every import, export-from and dynamic import of a file: [specifier, resolved file or null for packages]. */
function importsOf(file: string): { spec: string; resolved: string | null }[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map(({ fileName: spec }) => {
    if (!spec.startsWith('.')) return { spec, resolved: null };
    const base = path.resolve(path.dirname(file), spec);
    const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.tsx'), base, `${base}.ts`, path.join(base, 'index.ts')];
    const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    if (!hit) throw new Error(`${path.relative(SRC, file)}: cannot resolve "${spec}"`);
    return { spec, resolved: hit };
  });
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string) => path.relative(SRC, f);

test('no import circle anywhere in src/', () => {
  assert.ok(files.length > 50, `read ${files.length} modules`);
  const circles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const { resolved } of graph.get(f) ?? []) {
      if (!resolved || !graph.has(resolved)) continue;
      if (state.get(resolved) === 'open') circles.push([...stack.slice(stack.indexOf(resolved)), resolved].map(rel).join(' > '));
      else if (!state.has(resolved)) visit(resolved);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.deepEqual(circles, [], `import circles:\n${circles.join('\n')}`);
});

test('src/core imports nothing outside src/core: no other DAMM module, no Node built-in', () => {
  const core = path.join(SRC, 'core') + path.sep;
  const outside: string[] = [];
  for (const [f, imports] of graph) {
    if (!f.startsWith(core)) continue;
    for (const { spec, resolved } of imports) {
      if (resolved ? !resolved.startsWith(core) : spec.startsWith('node:') || builtinModules.includes(spec)) outside.push(`${rel(f)} imports ${spec}`);
    }
  }
  assert.ok([...graph.keys()].filter((f) => f.startsWith(core)).length > 10, 'read the core modules');
  assert.deepEqual(outside, []);
});
