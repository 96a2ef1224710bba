// Self time of a V8 .cpuprofile (e.g. BENCH_CPU_PROFILE=<file> node bench/producer/bench.ts) by
// function and by module, the largest first:
//   node bench/producer/profile-summary.ts <file.cpuprofile> [top=25]
// A module is the package under node_modules, a project file, or node's own (node:…, (garbage collector)…).
import { readFileSync } from 'node:fs';

type Frame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: Frame; hitCount?: number; children?: number[] };
type Profile = {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
};

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/producer/profile-summary.ts <file.cpuprofile> [top=25]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

/** Self time per node id in µs: each sample is charged the time delta that follows it. */
const selfUs = new Map<number, number>();
const samples = profile.samples ?? [];
const deltas = profile.timeDeltas ?? [];
for (let i = 0; i < samples.length; i++) {
  const id = samples[i] as number;
  const dt = deltas[i + 1] ?? 0;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
}

function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  const root = process.cwd();
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}

const parent = new Map<number, ProfileNode>();
const nodes = new Map<number, ProfileNode>();
for (const node of profile.nodes) {
  nodes.set(node.id, node);
  for (const child of node.children ?? []) parent.set(child, node);
}
const nameOf = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${moduleOf(url, functionName)}${url ? `:${lineNumber + 1}` : ''}`;
};
/** node's own code and V8/libuv internals (builtins, Buffer) are charged to the nearest JS caller outside them. */
const internal = (mod: string) => mod === '(native)' || mod.startsWith('node:');
const ownerOf = (node: ProfileNode): string => {
  for (let n: ProfileNode | undefined = node; n; n = parent.get(n.id)) {
    const mod = moduleOf(n.callFrame.url, n.callFrame.functionName);
    if (!internal(mod)) return mod;
  }
  return moduleOf(node.callFrame.url, node.callFrame.functionName);
};
const callerOf = (node: ProfileNode): string => {
  for (let n = parent.get(node.id); n; n = parent.get(n.id)) {
    if (!internal(moduleOf(n.callFrame.url, n.callFrame.functionName))) return nameOf(n);
  }
  return '';
};

const byFunction = new Map<string, number>();
const byModule = new Map<string, number>();
const byOwner = new Map<string, number>();
let total = 0;
for (const node of nodes.values()) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  total += us;
  const { functionName, url } = node.callFrame;
  const mod = moduleOf(url, functionName);
  const fn = internal(mod) ? `${nameOf(node)}  ← ${callerOf(node)}` : nameOf(node);
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  byModule.set(mod, (byModule.get(mod) ?? 0) + us);
  const owner = ownerOf(node);
  byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
}

const table = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `${((us / total) * 100).toFixed(1).padStart(6)}%  ${(us / 1000).toFixed(1).padStart(8)} ms  ${name}`,
    );
  }
};
console.log(
  `profile ${file}: ${(total / 1000).toFixed(0)} ms sampled over ${((profile.endTime - profile.startTime) / 1000).toFixed(0)} ms`,
);
table('self time by module', byModule);
table('self time by module, node internals and builtins charged to their JS caller', byOwner);
table('self time by function (internals: ← their JS caller)', byFunction);
