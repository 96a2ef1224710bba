/**
 * Top frames of a V8 CPU profile (`node --cpu-prof`) by self time, and by total time per source file.
 * Usage: node bench/pipeline/profile-top.ts <file.cpuprofile> [n=25]
 */
import { readFileSync } from 'node:fs';

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

const [file, n] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-top.ts <file.cpuprofile> [n]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
const frame = (node: Node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url.replace(/^file:\/\/.*?\/(node_modules|runtime)\//, '$1/');
  return `${functionName || '(anonymous)'} ${where}${url ? `:${lineNumber + 1}` : ''}`;
};
const selfByFrame = new Map<string, number>();
const selfByPlace = new Map<string, number>();
for (const [id, us] of self) {
  const node = byId.get(id);
  if (!node) continue;
  selfByFrame.set(frame(node), (selfByFrame.get(frame(node)) ?? 0) + us);
  const url = node.callFrame.url;
  const place = url.includes('node_modules/')
    ? `node_modules/${url
        .split('node_modules/')[1]
        ?.split('/')
        .slice(0, url.includes('/@') ? 2 : 1)
        .join('/')}`
    : url.includes('/runtime/')
      ? `runtime/${url.split('/runtime/')[1]}`
      : url.startsWith('node:')
        ? 'node internals'
        : node.callFrame.functionName.startsWith('(')
          ? node.callFrame.functionName
          : 'native/other';
  selfByPlace.set(place, (selfByPlace.get(place) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`;
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled\n\nself time by frame:`);
for (const [f, us] of [...selfByFrame].sort((a, b) => b[1] - a[1]).slice(0, Number(n ?? '25')))
  console.log(`  ${pct(us).padStart(6)}  ${f}`);
console.log('\nself time by module:');
for (const [p, us] of [...selfByPlace].sort((a, b) => b[1] - a[1]).slice(0, 15))
  console.log(`  ${pct(us).padStart(6)}  ${p}`);
