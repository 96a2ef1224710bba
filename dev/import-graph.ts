import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin, stripTypeScriptTypes } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { init, parse } from 'es-module-lexer';

/**
 * What a set of entry points loads at run time: the checkout files (followed through relative
 * imports) and the npm packages (bare specifiers). Types are stripped first, as Node does when it runs
 * the file, so `import type` (erased) does not count and `import { type A } from 'x'` (still loads x)
 * does. An import whose specifier is not a literal cannot be followed and is an error.
 */
export type ImportGraph = {
  /** Checkout files reached, relative to the root, sorted. */
  files: string[];
  /** Package name → the first file that imports it. */
  packages: Map<string, string>;
};

/** `@scope/name/sub/path` → `@scope/name`, `name/sub` → `name`. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

// Specifiers the lexer does not give: import.meta.resolve's argument (a literal or a template
// literal's literal start, e.g. `swagger-ui-dist/${file}`), read right after an `import.meta` the lexer
// found in code, and require / require.resolve in a file that makes a require (createRequire).
const RESOLVE_ARG = /^\.resolve\(\s*(['"`])([^'"`$]*)/;
const REQUIRE_CALL = /\brequire(?:\.resolve)?\(\s*(['"`])([^'"`$]*)/g;

export async function importGraph(entries: string[], root = process.cwd()): Promise<ImportGraph> {
  await init;
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = entries.map((e) => resolve(root, e));
  for (let file = queue.shift(); file; file = queue.shift()) {
    const rel = relative(root, file);
    if (files.has(rel)) continue;
    if (!existsSync(file)) throw new Error(`${rel}: no such file`);
    files.add(rel);
    if (!file.endsWith('.ts')) continue; // e.g. a JSON file read with an import attribute
    const code = stripTypeScriptTypes(readFileSync(file, 'utf8'));
    const specifiers: string[] = [];
    const [imports] = parse(code, rel);
    const named = (spec: string, what: string) => {
      if (spec === '') throw new Error(`${rel}: ${what}… does not name a module`);
      specifiers.push(spec);
    };
    for (const imp of imports) {
      if (imp.d === -2) {
        // import.meta: only its resolve() names a module.
        const call = RESOLVE_ARG.exec(code.slice(imp.e));
        if (call) named(call[2] ?? '', `import.meta${call[0]}`);
        continue;
      }
      if (imp.n === undefined) throw new Error(`${rel}: an import whose specifier is not a literal`);
      specifiers.push(imp.n);
    }
    if (specifiers.includes('node:module') || specifiers.includes('module')) {
      for (const m of code.matchAll(REQUIRE_CALL)) named(m[2] ?? '', m[0]);
    }
    for (const spec of specifiers) {
      if (spec.startsWith('./') || spec.startsWith('../')) queue.push(resolve(dirname(file), spec));
      else if (spec.startsWith('/')) throw new Error(`${rel}: absolute import ${spec}`);
      else if (!isBuiltin(spec)) {
        const name = packageName(spec);
        if (!packages.has(name)) packages.set(name, rel);
      }
    }
  }
  return { files: [...files].sort(), packages };
}
