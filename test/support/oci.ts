import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Where `dev/images.sh build` writes the OCI layout (tags `runtime` and `operator`). */
export const IMAGES_DIR = resolve('.local/images');
export const LAYOUT = join(IMAGES_DIR, 'oci');

/** The part of an OCI image config a container runtime turns into the process. */
export type ImageConfig = {
  User?: string;
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
};

function blob(digest: string): unknown {
  return JSON.parse(readFileSync(join(LAYOUT, 'blobs', ...digest.split(':')), 'utf8'));
}

function readIndex(): { manifests: { digest: string; annotations?: Record<string, string> }[] } {
  if (!existsSync(join(LAYOUT, 'index.json'))) {
    throw new Error(`no images in ${LAYOUT}: run \`dev/images.sh build\` (make test builds them first)`);
  }
  return JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8'));
}

const layoutDigests = () => readIndex().manifests.map((m) => m.digest);

/** Manifest digest and config of a tag in the layout (read as a runtime would, from the blobs). */
export function readImage(tag: string): {
  digest: string;
  config: ImageConfig;
  layers: number;
  layerDigests: string[];
} {
  const idx = readIndex();
  const entry = idx.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!entry) throw new Error(`tag ${tag} not in ${LAYOUT}`);
  const manifest = blob(entry.digest) as { config: { digest: string }; layers: { digest: string }[] };
  const config = (blob(manifest.config.digest) as { config: ImageConfig }).config;
  const layerDigests = manifest.layers.map((l) => l.digest);
  return { digest: entry.digest, config, layers: layerDigests.length, layerDigests };
}

/**
 * The image's root filesystem, unpacked once per manifest digest (`umoci raw unpack`, ownership kept)
 * under .local/images/unpacked: containers share it, read-only.
 */
export async function unpackedRootfs(tag: string): Promise<string> {
  const { digest } = readImage(tag);
  const dir = join(IMAGES_DIR, 'unpacked', digest.replace(':', '-'));
  if (existsSync(join(dir, 'rootfs'))) return join(dir, 'rootfs');
  mkdirSync(join(IMAGES_DIR, 'unpacked'), { recursive: true });
  // Root filesystems of images the layout no longer holds.
  const current = new Set(layoutDigests().map((d) => d.replace(':', '-')));
  for (const old of readdirSync(join(IMAGES_DIR, 'unpacked'))) {
    if (!old.startsWith('.') && !current.has(old))
      rmSync(join(IMAGES_DIR, 'unpacked', old), { recursive: true, force: true });
  }
  const tmp = mkdtempSync(join(IMAGES_DIR, 'unpacked', '.tmp-'));
  await exec('umoci', ['raw', 'unpack', '--image', `${LAYOUT}:${tag}`, join(tmp, 'rootfs')], {
    maxBuffer: 16 << 20,
  });
  mkdirSync(dir, { recursive: true });
  renameSync(join(tmp, 'rootfs'), join(dir, 'rootfs'));
  rmSync(tmp, { recursive: true, force: true });
  return join(dir, 'rootfs');
}

export type Container = {
  id: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** `runc kill`: a signal to the container's init (the image's command, pid 1 inside). */
  signal: (sig: string) => Promise<void>;
};

/**
 * Runs containers with runc the way a CRI runtime would from an image config: Cmd (or `args`), the
 * image's Env plus `env`, WorkingDir, User, the root filesystem read-only. No network namespace: the
 * container shares the host's, so it reaches the test stack on loopback and serves on loopback ports.
 * State lives in a private runc root; `cleanup()` deletes every container by id.
 */
export class Runc {
  readonly root: string;
  private readonly ids = new Set<string>();
  private readonly bundles: string;

  constructor(base: string) {
    this.root = join(base, 'runc-state');
    this.bundles = join(base, 'bundles');
    mkdirSync(this.root, { recursive: true });
    mkdirSync(this.bundles, { recursive: true });
  }

  async run(opts: {
    id: string;
    rootfs: string;
    image: ImageConfig;
    env?: Record<string, string>;
    args?: string[];
  }): Promise<Container> {
    const bundle = join(this.bundles, opts.id);
    mkdirSync(bundle, { recursive: true });
    await exec('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    const [uid, gid] = (opts.image.User ?? '0:0').split(':').map(Number);
    const args = opts.args ?? [...(opts.image.Entrypoint ?? []), ...(opts.image.Cmd ?? [])];
    spec.process = {
      ...spec.process,
      terminal: false,
      user: { uid, gid: gid ?? uid },
      args,
      env: [...(opts.image.Env ?? []), ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`)],
      cwd: opts.image.WorkingDir || '/',
    };
    spec.root = { path: opts.rootfs, readonly: true };
    spec.hostname = opts.id;
    spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
    // cgroupfs driver on the v1 hierarchies (dev/cluster/README.md "Images without Docker"): one group
    // per container at the top of each hierarchy, which runc removes on delete.
    spec.linux.cgroupsPath = `/payment-pipeline-test-${opts.id}`;
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));

    this.ids.add(opts.id);
    const child = spawn('runc', ['--root', this.root, 'run', '--bundle', bundle, opts.id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d) => {
      out += String(d);
    });
    child.stderr?.on('data', (d) => {
      out += String(d);
    });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    const signal = async (sig: string) => {
      await exec('runc', ['--root', this.root, 'kill', opts.id, sig]);
    };
    return { id: opts.id, child, output: () => out, exited, signal };
  }

  /** Ids of the containers runc still knows in this state root. */
  async list(): Promise<string[]> {
    const { stdout } = await exec('runc', ['--root', this.root, 'list', '-q']);
    return stdout.split('\n').filter(Boolean);
  }

  async cleanup(): Promise<void> {
    for (const id of this.ids) {
      await exec('runc', ['--root', this.root, 'delete', '-f', id]).catch(() => undefined);
    }
    this.ids.clear();
    rmSync(this.bundles, { recursive: true, force: true });
  }
}
