import { z } from 'zod';
import { loadConfig, parseEnv } from '../config/env.ts';
import { mysqlUrl } from '../config/fields.ts';
import { migrateUp } from './migrate.ts';
import { createPool } from './pool.ts';
import { seedCatalog } from './seed.ts';

// Usage: node runtime/core/db/cli.ts migrate|seed   (MYSQL_ADMIN_URL = a user allowed to run DDL)
const env = loadConfig('db', (e) => parseEnv(z.object({ MYSQL_ADMIN_URL: mysqlUrl }), e));
const command = process.argv[2];
if (command !== 'migrate' && command !== 'seed') {
  console.error('usage: cli.ts migrate|seed');
  process.exit(2);
}
const pool = createPool(env.MYSQL_ADMIN_URL, { connectionLimit: 2 });
try {
  if (command === 'migrate') {
    const applied = await migrateUp(pool);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
  } else {
    await seedCatalog(pool);
    console.log('demo catalog seeded');
  }
} finally {
  await pool.end();
}
