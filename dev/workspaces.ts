import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The two images and what each runs. Each image installs the production dependencies of one npm
 * workspace (and the root's, which are only the npm package `node`): dev/images.sh and the
 * Dockerfile's `deps-<workspace>` stages.
 */
export type ImageSpec = {
  /** The npm workspace (a folder with its own package.json) whose dependencies the image installs. */
  workspace: string;
  /** The programs the image runs: its command, the commands the operator or a person gives it. */
  entries: string[];
  /** The checkout folders the image holds. */
  holds: string[];
};

export const IMAGES: Record<'runtime' | 'operator', ImageSpec> = {
  runtime: {
    workspace: 'runtime',
    // `node runtime/<component>/main.ts` (the operator's container commands), the consumer's
    // verify/repair/rebuild tools, and the migrations (`node runtime/core/db/cli.ts migrate`).
    entries: [...globSync('runtime/**/*main.ts').sort(), 'runtime/core/db/cli.ts'],
    holds: ['runtime'],
  },
  operator: { workspace: 'operator', entries: ['operator/main.ts'], holds: ['runtime', 'operator'] },
};

type Manifest = {
  name?: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

export function readManifest(dir = '.'): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

type LockEntry = {
  version?: string;
  link?: boolean;
  resolved?: string;
  dev?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
};
export type Lock = { packages: Record<string, LockEntry> };

/**
 * The lock file's `node_modules/...` paths that `npm ci --omit=dev --workspace=<w>
 * --include-workspace-root` installs: the root's and the workspace's dependencies and everything they
 * depend on, each resolved as Node does (the nearest node_modules up the tree), the workspace's link.
 */
export function installedPaths(lock: Lock, workspace: string): Set<string> {
  const out = new Set<string>();
  const resolveFrom = (from: string, name: string): string | undefined => {
    // from is '' (the root), a workspace folder, or a node_modules/... path.
    for (let dir = from; ; ) {
      const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
      if (lock.packages[candidate]) return candidate;
      if (dir === '') return undefined;
      const cut = dir.lastIndexOf('/node_modules/');
      dir = cut < 0 ? '' : dir.slice(0, cut);
    }
  };
  const visit = (from: string, deps: Record<string, string> | undefined, optional: boolean) => {
    for (const name of Object.keys(deps ?? {})) {
      const path = resolveFrom(from, name);
      if (path === undefined) {
        if (optional) continue;
        throw new Error(`the lock file resolves no ${name} for ${from || 'the root'}`);
      }
      if (out.has(path)) continue;
      out.add(path);
      const entry = lock.packages[path] ?? {};
      const target = entry.link && entry.resolved ? entry.resolved : path;
      const pkg = lock.packages[target] ?? {};
      visit(target, pkg.dependencies, false);
      visit(target, pkg.optionalDependencies, true);
      visit(target, pkg.peerDependencies, true);
    }
  };
  const root = lock.packages[''] ?? {};
  visit('', root.dependencies, false);
  visit('', { [readManifest(workspace).name ?? workspace]: '*' }, false);
  return out;
}
