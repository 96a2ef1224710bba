// startFrom resolution against the real MariaDB: each kind becomes a position the server has, a
// replica started there sees exactly the next transaction, and bad positions are refused.
import ZongJi, { type WriteRowsEvent } from '@vlasky/zongji';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveStartFrom } from '../../operator/duties/binlog/resolve.ts';
import { readServerBinlogState } from '../../runtime/core/binlog/server.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { commitAndLocate, createTestDatabase, type TestDatabase } from '../support/mysql.ts';

let db: TestDatabase;
let cdc: Pool;

beforeAll(async () => {
  db = await createTestDatabase({ seed: false });
  cdc = createPool(db.cdcUrl, { connectionLimit: 2 });
  await db.admin.query('CREATE TABLE start_probe (id INT PRIMARY KEY, note VARCHAR(32))');
});

afterAll(async () => {
  await cdc?.end();
  await db?.drop();
});

const commit = (id: number) =>
  commitAndLocate(db.admin, 'INSERT INTO start_probe (id, note) VALUES (?, ?)', [id, `row ${id}`]);

/** The first row of our table a replica sees when it starts reading at file:pos. */
async function firstRowFrom(file: string, pos: number): Promise<unknown> {
  const u = new URL(db.cdcUrl);
  const zongji = new ZongJi({
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no row event within 20 s')), 20_000);
      zongji.on('error', (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      });
      zongji.on('binlog', (event) => {
        if (event.getEventName() !== 'writerows') return;
        clearTimeout(timer);
        resolve((event as WriteRowsEvent).rows[0]?.id);
      });
      zongji.start({
        serverId: 20_000 + Math.floor(Math.random() * 10_000),
        filename: file,
        position: pos,
        includeEvents: ['tablemap', 'writerows'],
        includeSchema: { [db.name]: ['start_probe'] },
      });
    });
  } finally {
    zongji.stop();
  }
}

describe('resolving spec.producer.startFrom on the real server', () => {
  it('position: a replica started at the resolved position reads exactly the next transaction', async () => {
    const a = await commit(1);
    await commit(2);
    const r = await resolveStartFrom(cdc, { kind: 'position', file: a.file, pos: a.pos }, 'never');
    expect(r).toMatchObject({ ok: true, position: { file: a.file, pos: a.pos, gtid: a.gtid } });
    expect(await firstRowFrom(a.file, a.pos)).toBe(2);
  });

  it('latest is the head and GTID state; earliest is the start of the oldest binlog', async () => {
    const latest = await resolveStartFrom(cdc, { kind: 'latest' }, 'never');
    if (!latest.ok || !('position' in latest))
      throw new Error(`latest not resolved: ${JSON.stringify(latest)}`);
    // Others write concurrently: the head read afterwards is at or after the resolved one.
    const after = await readServerBinlogState(cdc);
    expect(after.files.map((f) => f.name)).toContain(latest.position.file);
    expect(latest.position.gtid).toMatch(/^\d+-\d+-\d+/);
    const earliest = await resolveStartFrom(cdc, { kind: 'earliest' }, 'never');
    if (!earliest.ok || !('position' in earliest))
      throw new Error(`earliest not resolved: ${JSON.stringify(earliest)}`);
    expect(earliest.position.pos).toBe(4);
    expect(earliest.position.file).toBe((await readServerBinlogState(cdc)).files[0]?.name);
  });

  it('gtid: accepted when the server has it', async () => {
    const a = await commit(3);
    expect(await resolveStartFrom(cdc, { kind: 'gtid', gtid: a.gtid }, 'never')).toMatchObject({
      ok: true,
      position: { gtid: a.gtid },
    });
  });

  it('refuses a position inside an event, a purged file, an unknown GTID; a timestamp only without snapshot=initial', async () => {
    const a = await commit(4);
    const mid = await resolveStartFrom(cdc, { kind: 'position', file: a.file, pos: a.pos - 1 }, 'never');
    expect(mid).toMatchObject({ ok: false, verdict: { reason: 'PositionBeyondEnd' } });
    const base = a.file.replace(/\.\d+$/, '');
    expect(
      await resolveStartFrom(cdc, { kind: 'position', file: `${base}.000000`, pos: 4 }, 'never'),
    ).toMatchObject({
      ok: false,
      verdict: { reason: 'BinlogFilePurged', purged: true },
    });
    expect(await resolveStartFrom(cdc, { kind: 'gtid', gtid: '0-1-999999999' }, 'never')).toMatchObject({
      ok: false,
      verdict: { reason: 'GtidNotOnServer' },
    });
    const at = new Date().toISOString();
    expect(await resolveStartFrom(cdc, { kind: 'timestamp', timestamp: at }, 'initial')).toMatchObject({
      ok: false,
    });
    expect(await resolveStartFrom(cdc, { kind: 'timestamp', timestamp: at }, 'when_needed')).toMatchObject({
      ok: true,
      clear: true,
    });
  });
});
