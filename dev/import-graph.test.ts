import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { importGraph, packageName } from './import-graph.ts';

let dir = '';
function tree(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'import-graph-'));
  for (const [name, code] of Object.entries(files)) writeFileSync(join(dir, name), code);
  return dir;
}
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('importGraph', () => {
  it('follows relative imports and collects packages as Node loads them once types are stripped', async () => {
    const root = tree({
      'main.ts': [
        "import type { Pool } from 'type-only';",
        "import { type Redis } from 'kept-for-side-effects';",
        "import { a } from './a.ts';",
        "export { b } from './b.ts';",
        "import 'node:fs';",
        "import { join } from 'path';",
        'const p: Pool | Redis | undefined = undefined;',
        'export const x = [a, p, join];',
      ].join('\n'),
      'a.ts': "import { z } from 'zod/v4';\nimport { k } from '@scope/pkg/sub';\nexport const a = [z, k];\n",
      'b.ts': [
        "export const b = await import('lazy');",
        "export const f = (n: string) => import.meta.resolve('assets/' + n);",
        // A template literal's literal start names the package.
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the fixture's source text
        'export const g = (n: string) => import.meta.resolve(`tpl/${n}`);',
        "export const u = import.meta.url + 'import.meta.resolve(`not-code`)';",
      ].join('\n'),
    });
    const g = await importGraph(['main.ts'], root);
    expect(g.files).toEqual(['a.ts', 'b.ts', 'main.ts']);
    expect([...g.packages.keys()].sort()).toEqual([
      '@scope/pkg',
      'assets',
      'kept-for-side-effects',
      'lazy',
      'tpl',
      'zod',
    ]);
    expect(g.packages.get('zod')).toBe('a.ts');
  });

  it('refuses what it cannot follow: a computed dynamic import, a missing file', async () => {
    const root = tree({ 'main.ts': "const name: string = 'x';\nexport const m = await import(name);\n" });
    await expect(importGraph(['main.ts'], root)).rejects.toThrow(/not a literal/);
    const other = tree({ 'main.ts': "import './gone.ts';\n" });
    await expect(importGraph(['main.ts'], other)).rejects.toThrow(/gone\.ts: no such file/);
  });

  it('names a package from a specifier', () => {
    expect(packageName('@kubernetes/client-node')).toBe('@kubernetes/client-node');
    expect(packageName('mysql2/promise')).toBe('mysql2');
    expect(packageName('swagger-ui-dist/swagger-ui.css')).toBe('swagger-ui-dist');
  });
});
