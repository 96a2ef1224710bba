import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The import graph of operator/, runtime/ and crds/ (type-only imports included: a type cycle is
 * still a cycle a reader has to untangle). Keeps the rooms of docs/architecture.md apart: no cycle,
 * the controller framework knows nothing of PaymentPipeline, the services never import the operator.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROOMS = ['operator', 'runtime', 'crds'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)|(?:^|[\s;])import\s*'(\.{1,2}\/[^']+)'/g;

/** file → the repository files it imports (relative specifiers only; packages are leaves). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const deps = [...text.matchAll(IMPORT)].map((m) =>
      relative(ROOT, normalize(join(ROOT, dirname(file), m[1] ?? m[2] ?? m[3] ?? ''))),
    );
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

/** The strongly connected components with more than one file (or a file importing itself): Tarjan. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w === undefined) break;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

const graph = importGraph(ROOMS.flatMap(sources));
const edges = [...graph].flatMap(([from, deps]) => deps.map((to) => ({ from, to })));

describe('import graph', () => {
  it('sees the files and their imports', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('operator/app.ts')).toContain('operator/controller/controller.ts');
  });

  it('has no cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(g)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('keeps the controller framework generic: it imports only itself and runtime/core', () => {
    const out = edges.filter(
      (e) =>
        e.from.startsWith('operator/framework/') &&
        !e.to.startsWith('operator/framework/') &&
        !e.to.startsWith('runtime/core/'),
    );
    expect(out).toEqual([]);
  });

  it('keeps the resource definition at the bottom of the operator: operator/api imports no other room of it', () => {
    const out = edges.filter(
      (e) =>
        e.from.startsWith('operator/api/') &&
        e.to.startsWith('operator/') &&
        !e.to.startsWith('operator/api/') &&
        !e.to.startsWith('operator/framework/'),
    );
    expect(out).toEqual([]);
  });

  it('keeps the services independent of the operator: runtime/ never imports operator/', () => {
    expect(edges.filter((e) => e.from.startsWith('runtime/') && e.to.startsWith('operator/'))).toEqual([]);
  });
});
