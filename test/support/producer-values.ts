// What the producer value suites share: reading the published images back, writing rows with a
// streaming producer and snapshotting them with a second one, and the value generators.
import type { ProducerConfig } from '../../runtime/producer/config.ts';
import type { TestDatabase } from './mysql.ts';
import { producerConfig, readTopic, runProducer } from './producer.ts';

export type Row = Record<string, unknown>;

/**
 * The `after` images of a table's first `count` events (by the integer column `id`), as published by
 * a streaming producer (op c) and by a snapshot of the same rows (op r): both paths must agree with
 * MariaDB. The streaming producer must already run when the rows are written.
 */
export async function afterImages(
  db: TestDatabase,
  cfg: ProducerConfig,
  table: string,
  count: number,
  snapshot: boolean,
): Promise<Map<number, Row>> {
  const topic = `${cfg.topicPrefix}.${db.name}.${table}`;
  const op = snapshot ? 'r' : 'c';
  const messages = await readTopic(topic, (m) => m.length >= count, 120_000);
  const out = new Map<number, Row>();
  for (const m of messages) {
    const e = JSON.parse(m.value ?? 'null');
    if (e?.op === op) out.set(Number(e.after.id), e.after);
  }
  return out;
}

/** What MariaDB itself returns for every row: `SELECT id, <expr> AS <alias>, ...` as text. */
export async function mariadbText(db: TestDatabase, table: string, exprs: Record<string, string>) {
  const cols = Object.entries(exprs).map(([alias, expr]) => `${expr} AS \`${alias}\``);
  const [rows] = (await db.admin.query(
    `SELECT id, ${cols.join(', ')} FROM ${table} ORDER BY id`,
  )) as unknown as [Array<Record<string, string | number | null>>];
  return rows;
}

/** Writes rows with a streaming producer running, then snapshots them with a second one. */
export async function publishBothWays(
  db: TestDatabase,
  tables: string,
  write: () => Promise<void>,
): Promise<{ stream: ProducerConfig; snap: ProducerConfig }> {
  const stream = producerConfig(db, { PRODUCER_TABLES: tables });
  const p = await runProducer(stream);
  try {
    await write();
    // Everything written is published once the marker row (written last) is.
    await readTopic(`${stream.topicPrefix}.${db.name}.marker`, (m) => m.length >= 1, 60_000);
  } finally {
    await p.stop();
  }
  const snap = producerConfig(db, { PRODUCER_TABLES: tables, SNAPSHOT_MODE: 'initial' });
  const s = await runProducer(snap);
  try {
    await readTopic(`${snap.topicPrefix}.${db.name}.marker`, (m) => m.length >= 1, 60_000);
  } finally {
    await s.stop();
  }
  return { stream, snap };
}

export const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** TIME literals over the whole range: every hour, the zero-second/zero-minute negatives, a full minute/second grid, the bounds and random values with 6-digit fractions. */
export function timeLiterals(): string[] {
  const out = new Set<string>(['838:59:59', '-838:59:59', '838:59:59.999999', '-838:59:59.999999']);
  out.add('00:00:00').add('-00:00:00.000001').add('-00:00:00.5').add('00:00:00.000001').add('-00:00:01');
  for (let h = 0; h <= 838; h++) {
    for (const ms of ['00:00', '59:59', '01:00', '59:00', '00:01']) {
      out.add(`-${pad(h)}:${ms}`);
      out.add(`${pad(h)}:${ms}`);
    }
    out.add(`-${pad(h)}:00:00.000000`);
    out.add(`-${pad(h)}:30:00.${pad(Math.floor(Math.random() * 1e6), 6)}`);
  }
  for (let m = 0; m < 60; m++) for (let s = 0; s < 60; s++) out.add(`-12:${pad(m)}:${pad(s)}`);
  let seed = 18;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 1500; i++) {
    const frac = i % 3 === 0 ? '' : `.${pad(rnd(1_000_000), 6)}`;
    const frac0 = i % 3 === 1 ? `.${pad(rnd(10) * 100_000, 6)}` : frac; // fractions that truncate to zero
    out.add(`${rnd(2) ? '-' : ''}${pad(rnd(839))}:${pad(rnd(60))}:${pad(rnd(60))}${frac0}`);
  }
  return [...out];
}

/** A date/datetime text from MariaDB that names a real calendar day (checked with Date, not the producer's rule). */
export function calendarDay(text: string): boolean {
  const [y, m, d] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

export const hexOfBase64 = (v: unknown) => Buffer.from(String(v), 'base64').toString('hex').toUpperCase();
