import { globSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importGraph } from './import-graph.ts';
import { IMAGES, installedPaths, type Lock, readManifest } from './workspaces.ts';

// Each image's dependency list (its npm workspace's package.json) is exactly what its programs import:
// an image neither lacks a package one of its files loads nor ships one none of them loads.

const root = readManifest();
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as Lock;

describe('the images’ dependencies', () => {
  it('the root lists the two workspaces and has one production dependency, the pinned Node', () => {
    expect(root.workspaces).toEqual(Object.values(IMAGES).map((i) => i.workspace));
    expect(Object.keys(root.dependencies ?? {})).toEqual(['node']);
  });

  it.each(Object.entries(IMAGES))(
    '%s: the workspace declares exactly the packages its entry points import',
    async (_, image) => {
      const graph = await importGraph(image.entries);
      const declared = Object.keys(readManifest(image.workspace).dependencies ?? {}).sort();
      const imported = [...graph.packages.keys()].sort();
      const importedBy = (name: string) => `${name} (${graph.packages.get(name)})`;
      expect(imported.filter((p) => !declared.includes(p)).map(importedBy), 'imported, not declared').toEqual(
        [],
      );
      expect(
        declared.filter((p) => !imported.includes(p)),
        'declared, never imported',
      ).toEqual([]);
      // Every file it loads is in a folder the image holds.
      expect(graph.files.filter((f) => !image.holds.some((dir) => f.startsWith(`${dir}/`)))).toEqual([]);
    },
  );

  it('a package two workspaces share has one version range (one hoisted copy)', () => {
    const ranges = new Map<string, Set<string>>();
    for (const { workspace } of Object.values(IMAGES)) {
      for (const [name, range] of Object.entries(readManifest(workspace).dependencies ?? {})) {
        ranges.set(name, (ranges.get(name) ?? new Set()).add(range));
      }
    }
    expect([...ranges].filter(([, r]) => r.size > 1).map(([name]) => name)).toEqual([]);
  });

  it('what only benches, tests and dev scripts import is a development dependency, declared at the root', async () => {
    const others = globSync('{bench,test,dev,crds}/**/*.ts');
    const graph = await importGraph(others);
    const workspaceDeps = new Set(
      Object.values(IMAGES).flatMap((i) => Object.keys(readManifest(i.workspace).dependencies ?? {})),
    );
    const dev = Object.keys(root.devDependencies ?? {});
    // Imported outside the images' programs, and not already a workspace's (hoisted) dependency.
    const undeclared = [...graph.packages.keys()].filter((p) => !workspaceDeps.has(p) && !dev.includes(p));
    expect(undeclared.map((p) => `${p} (${graph.packages.get(p)})`)).toEqual([]);
    for (const name of ['express', 'kafkajs', 'autocannon', 'redis', 'playwright-core']) {
      expect(dev).toContain(name);
      expect(workspaceDeps.has(name)).toBe(false);
    }
  });

  it('the lock file installs each image the other image’s own packages not at all', () => {
    const [runtime, operator] = [installedPaths(lock, 'runtime'), installedPaths(lock, 'operator')];
    expect(runtime.has('node_modules/fastify')).toBe(true);
    expect(runtime.has('node_modules/@kubernetes/client-node')).toBe(false);
    expect(operator.has('node_modules/@kubernetes/client-node')).toBe(true);
    for (const name of ['fastify', '@vlasky/zongji', 'swagger-ui-dist', 'ioredis', 'umzug']) {
      expect(operator.has(`node_modules/${name}`)).toBe(false);
    }
    for (const paths of [runtime, operator]) {
      expect(paths.has('node_modules/node')).toBe(true);
      expect([...paths].filter((p) => lock.packages[p]?.dev)).toEqual([]);
    }
  });
});
