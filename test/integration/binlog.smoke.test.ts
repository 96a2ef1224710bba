import ZongJi, { type WriteRowsEvent } from '@vlasky/zongji';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('binlog row events through @vlasky/zongji', () => {
  it('delivers a committed row with its GTID and binlog file/position', async () => {
    const cdc = new URL(db.cdcUrl);
    const zongji = new ZongJi({
      host: cdc.hostname,
      port: Number(cdc.port),
      user: decodeURIComponent(cdc.username),
      password: decodeURIComponent(cdc.password),
    });
    const seen = new Promise<{ event: WriteRowsEvent; file: string; position: number }>((resolve, reject) => {
      zongji.on('error', reject);
      zongji.on('binlog', (event) => {
        if (event.getEventName() !== 'writerows') return;
        resolve({
          event: event as WriteRowsEvent,
          file: String(zongji.options.filename),
          position: Number(zongji.options.position),
        });
      });
    });
    const ready = new Promise<void>((resolve) => zongji.on('ready', () => resolve()));
    zongji.start({
      serverId: 9_000 + Math.floor(Math.random() * 1000),
      startAtEnd: true,
      includeEvents: ['tablemap', 'writerows'],
      includeSchema: { [db.name]: ['packages'] },
    });
    try {
      await ready;
      const conn = await db.admin.getConnection();
      await conn.query(
        "INSERT INTO packages (id, name, price_amount, currency) VALUES ('pkg_smoke', 'Smoke 🔥', 12345, 'USD')",
      );
      const [gtidRows] = await conn.query('SELECT @@last_gtid AS gtid');
      conn.release();
      const committedGtid = (gtidRows as { gtid: string }[])[0]?.gtid;

      const { event, file, position } = await seen;
      const row = event.rows[0];
      expect(row).toMatchObject({ id: 'pkg_smoke', name: 'Smoke 🔥', currency: 'USD' });
      expect(String(row?.price_amount)).toBe('12345');
      expect(event.tableMap[event.tableId]).toMatchObject({ parentSchema: db.name, tableName: 'packages' });
      expect(committedGtid).toMatch(/^\d+-\d+-\d+$/);
      expect(event.gtid).toBe(committedGtid);
      expect(file).toMatch(/^mariadb-bin\.\d{6}$/);
      expect(position).toBeGreaterThan(4);
    } finally {
      zongji.stop();
    }
  });
});
