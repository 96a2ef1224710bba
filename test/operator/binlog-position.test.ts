// Binlog position validation against the real MariaDB: positions the server has, positions it never
// had, and positions whose binlog file was really purged (PURGE BINARY LOGS).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readServerBinlogState } from '../../runtime/core/binlog/server.ts';
import { validatePosition } from '../../runtime/core/binlog/validate.ts';
import { createPool, type Pool } from '../../runtime/core/db/pool.ts';
import { commitAndLocate, createTestDatabase, type TestDatabase } from '../support/mysql.ts';

let db: TestDatabase;
let cdc: Pool;

beforeAll(async () => {
  db = await createTestDatabase({ seed: false });
  cdc = createPool(db.cdcUrl, { connectionLimit: 2 });
  await db.admin.query('CREATE TABLE binlog_probe (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(32))');
});

afterAll(async () => {
  await cdc?.end();
  await db?.drop();
});

/** One committed transaction; returns its GTID and the binlog coordinates right after it. */
const commitOne = (note: string) =>
  commitAndLocate(db.admin, 'INSERT INTO binlog_probe (note) VALUES (?)', [note]);

describe('binlog position validation on the real server', () => {
  it('reads the inventory with the CDC user and accepts a position just written', async () => {
    const at = await commitOne('fresh');
    const state = await readServerBinlogState(cdc);
    expect(state.flavor).toBe('mariadb');
    expect(state.files.at(-1)?.name).toBe(state.head.file);
    expect(state.files.map((f) => f.name)).toContain(at.file);
    expect(Math.abs(state.nowMs - Date.now())).toBeLessThan(60_000);
    expect(validatePosition({ gtid: at.gtid, file: at.file, pos: at.pos }, state)).toMatchObject({
      valid: true,
    });
  });

  it('refuses positions the server never had', async () => {
    const state = await readServerBinlogState(cdc);
    const [domain, server, seq] = state.gtidExecuted.split(',')[0]?.split('-') ?? [];
    expect(
      validatePosition({ gtid: `${domain}-${server}-${BigInt(seq ?? 0) + 1_000_000n}` }, state),
    ).toMatchObject({
      valid: false,
      reason: 'GtidNotOnServer',
    });
    expect(
      validatePosition({ file: state.head.file, pos: state.head.pos + 1_000_000_000 }, state),
    ).toMatchObject({
      reason: 'PositionBeyondEnd',
    });
    const base = state.head.file.replace(/\.\d+$/, '');
    expect(validatePosition({ file: `${base}.999999`, pos: 4 }, state)).toMatchObject({
      reason: 'BinlogFileNotFound',
    });
  });

  it('reports a checkpoint naming a file older than the oldest binlog as purged', async () => {
    const state = await readServerBinlogState(cdc);
    const base = state.head.file.replace(/\.\d+$/, '');
    const v = validatePosition({ file: `${base}.000000`, pos: 4 }, state);
    expect(v).toMatchObject({ valid: false, reason: 'BinlogFilePurged', purged: true });
  });

  it('detects a really purged file and GTID (PURGE BINARY LOGS, only files older than the current one)', async () => {
    // Our own file: rotate, write two transactions into it, rotate again.
    await db.admin.query('FLUSH BINARY LOGS');
    const first = await commitOne('in the file to purge');
    const second = await commitOne('after the checkpoint');
    await db.admin.query('FLUSH BINARY LOGS');
    const before = await readServerBinlogState(cdc);
    expect(validatePosition({ gtid: first.gtid, file: first.file, pos: first.pos }, before).valid).toBe(true);

    // Only files strictly older than the current one. MariaDB keeps a file until its binlog checkpoint
    // has moved on (crash recovery), and keeps a file another replica is still reading: retry for a
    // while, and if it is still there, the verdict must agree that it is.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      await db.admin.query('PURGE BINARY LOGS TO ?', [before.head.file]).catch((err: unknown) => {
        console.info(`PURGE BINARY LOGS refused: ${(err as Error).message}`);
      });
      const [listed] = (await db.admin.query('SHOW BINARY LOGS')) as unknown as [{ Log_name: string }[]];
      if (!listed.some((f) => f.Log_name === first.file)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const after = await readServerBinlogState(cdc);
    const fileGone = !after.files.some((f) => f.name === first.file);
    const byFile = validatePosition({ file: first.file, pos: first.pos }, after);
    const byGtid = validatePosition({ gtid: first.gtid }, after);
    if (fileGone) {
      expect(byFile).toMatchObject({ valid: false, reason: 'BinlogFilePurged', purged: true });
      // Resuming after `first` needs `second`, which was in the purged file.
      expect(byGtid).toMatchObject({ valid: false, reason: 'GtidPurged', purged: true });
      // Resuming after `second` needs nothing from the purged file.
      expect(validatePosition({ gtid: second.gtid }, after).valid).toBe(true);
    } else {
      console.info(`${first.file} is still in use by another reader; checking the verdict agrees`);
      expect(byFile.valid).toBe(true);
      expect(byGtid.valid).toBe(true);
    }
  });
});
