// A TCP proxy on loopback that adds latency to a Kafka broker, for the producer bench:
//   node bench/producer/latency-proxy.ts <broker host:port> <delay ms>
// Listens on an ephemeral loopback port and prints it ("port <n>") on stdout. Every chunk is held
// `delay ms / 2` in each direction (in order), so each request/response round trip takes `delay ms`
// more. The broker's Metadata responses advertise the broker itself; the proxy rewrites the port of
// that address to its own, so the client's connections to "the broker" come through it as well.
import { connect, createServer, type Socket } from 'node:net';

const [target, delayArg] = process.argv.slice(2);
const [host, portText] = (target ?? '').split(':');
const brokerPort = Number(portText);
const delayMs = Number(delayArg ?? 20);
if (!host || !brokerPort || !(delayMs >= 0)) {
  console.error('usage: node bench/producer/latency-proxy.ts <broker host:port> <delay ms>');
  process.exit(2);
}

/** Writes chunks to `to` after `ms`, in the order they came. */
function delayed(to: Socket, ms: number) {
  const queue: Array<{ due: number; chunk: Buffer }> = [];
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    const now = performance.now();
    while (queue.length > 0 && (queue[0]?.due ?? 0) <= now)
      to.write((queue.shift() as { chunk: Buffer }).chunk);
    const next = queue[0];
    if (next) {
      scheduled = true;
      setTimeout(drain, Math.max(0, next.due - now));
    }
  };
  return (chunk: Buffer) => {
    queue.push({ due: performance.now() + ms, chunk });
    if (!scheduled) {
      scheduled = true;
      setTimeout(drain, ms);
    }
  };
}

let ownPort = 0;
const hostBytes = Buffer.from(host);
const portBytes = (p: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(p);
  return b;
};

/**
 * Responses framed by their length prefix; in each, `<host><int32 broker port>` (how Metadata
 * carries a broker's address, in every version) gets the proxy's port. Nothing else carries it here.
 */
function rewriter(out: (chunk: Buffer) => void) {
  let pending: Buffer = Buffer.alloc(0);
  const needle = Buffer.concat([hostBytes, portBytes(brokerPort)]);
  return (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (pending.length - at >= 4) {
      const size = pending.readInt32BE(at);
      if (pending.length - at < 4 + size) break;
      const frame = Buffer.from(pending.subarray(at, at + 4 + size));
      for (let i = frame.indexOf(needle); i >= 0; i = frame.indexOf(needle, i + needle.length))
        frame.writeInt32BE(ownPort, i + hostBytes.length);
      out(frame);
      at += 4 + size;
    }
    pending = pending.subarray(at);
  };
}

const server = createServer((client) => {
  const broker = connect({ host, port: brokerPort });
  client.setNoDelay(true);
  broker.setNoDelay(true);
  client.on('data', delayed(broker, delayMs / 2));
  broker.on('data', rewriter(delayed(client, delayMs / 2)));
  const close = () => {
    client.destroy();
    broker.destroy();
  };
  client.on('error', close).on('close', close);
  broker.on('error', close).on('close', close);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  ownPort = typeof address === 'object' && address ? address.port : 0;
  console.log(`port ${ownPort}`);
});
process.on('SIGTERM', () => process.exit(0));
