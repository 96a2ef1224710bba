// The binlog duty wired into the operator on the real control plane: a startFrom change scales the
// producer Deployment to 0, waits until kwok's producer pod is gone, rewrites the checkpoint in
// Kafka and scales back, all visible in status and Events; a purged checkpoint is reported.
import type { V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentPipeline } from '../../operator/api/v1alpha1/types.ts';
import { readCheckpoint, writeCheckpoint } from '../../runtime/core/checkpoint/store.ts';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import {
  type Kube,
  kubeClient,
  kubeConfig,
  operatorNamespace,
  pipeline,
  pipelineSpec,
  waitFor,
} from './support.ts';

const kc = kubeConfig();
const kube: Kube = kubeClient(kc);
const prefix = `t_bo_${uniqueSuffix()}`;
const where = () => ({ brokers: requireEnv('KAFKA_BROKERS').split(','), topicPrefix: prefix, name: prefix });
let ns = '';
let db: TestDatabase;
let stop: (() => Promise<void>) | undefined;

const getPipeline = () => kube.get<PaymentPipeline>('PaymentPipeline', ns, 'shop');
const producerReplicas = async () =>
  (await kube.get<V1Deployment>('Deployment', ns, 'shop-producer'))?.spec?.replicas;
const condition = (p: PaymentPipeline | undefined) =>
  p?.status?.conditions?.find((c) => c.type === 'BinlogPositionValid');
const events = async () =>
  (
    await kube.http.request<{ items: { reason?: string; note?: string }[] }>(
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    )
  ).items;

async function head(): Promise<{ file: string; pos: number; gtid: string }> {
  const [[s]] = (await db.admin.query('SHOW MASTER STATUS')) as unknown as [
    { File: string; Position: string }[],
  ];
  const [[g]] = (await db.admin.query('SELECT @@gtid_binlog_pos AS g')) as unknown as [{ g: string }[]];
  if (!s || !g) throw new Error('no master status');
  return { file: s.File, pos: Number(s.Position), gtid: g.g };
}

const checkpoint = (p: { file: string; pos: number; gtid: string | null }) => ({
  v: 1 as const,
  ...p,
  partial: null,
  source_ts_ms: 0,
  ts_ms: Date.now(),
});

beforeAll(async () => {
  db = await createTestDatabase({ seed: false });
  await db.admin.query('CREATE TABLE op_probe (id INT PRIMARY KEY)');
  const cdc = new URL(db.cdcUrl);
  ({ ns, stop } = await operatorNamespace(kube, kc, 'op-binlog', {
    env: { OPERATOR_DUTIES: 'binlog', POSITION_REFRESH_SECONDS: '1' },
    prepare: async (namespace) => {
      await kube.http.request('POST', `/api/v1/namespaces/${namespace}/secrets`, {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'db' },
          stringData: {
            username: 'app',
            password: 'app',
            cdcUsername: decodeURIComponent(cdc.username),
            cdcPassword: decodeURIComponent(cdc.password),
          },
        },
      });
      // The producer would have written this on its first start.
      await writeCheckpoint(where(), checkpoint(await head()));
    },
  }));
});

afterAll(async () => {
  await stop?.();
  const admin = createKafkaAdmin({ brokers: where().brokers, clientId: `${prefix}-cleanup` });
  await admin.deleteTopics([`${prefix}.__checkpoints`]).catch(() => undefined);
  await admin.close();
  await db?.drop();
});

describe('binlog positions through the operator on the real control plane', () => {
  it('reports the checkpoint position as valid', async () => {
    const cdc = new URL(db.cdcUrl);
    await kube.create(
      'PaymentPipeline',
      ns,
      pipeline(
        ns,
        'shop',
        pipelineSpec({
          mysql: {
            host: cdc.hostname,
            port: Number(cdc.port),
            database: db.name,
            credentialsSecret: 'db',
            serverId: 4242,
            tables: ['purchases'],
          },
          kafka: { bootstrap: requireEnv('KAFKA_BROKERS'), topicPrefix: prefix, partitions: 6 },
          producer: { startFrom: { kind: 'latest' }, snapshot: 'never' },
        }),
      ),
    );
    const p = await waitFor('BinlogPositionValid=True', async () => {
      const p = await getPipeline();
      return condition(p)?.status === 'True' && p?.status?.producer?.position ? p : undefined;
    });
    expect(p.status?.producer?.position?.file).toMatch(/^mariadb-bin\.\d+$/);
    await waitFor(
      'producer pod ready',
      async () => (await getPipeline())?.status?.producer?.readyReplicas === 1,
    );
  });

  it('applies a startFrom change: producer to 0, pod gone, checkpoint rewritten, producer back', async () => {
    await db.admin.query('INSERT INTO op_probe VALUES (1)');
    const target = await head();
    await db.admin.query('INSERT INTO op_probe VALUES (2)');
    {
      await kube.mergePatch('PaymentPipeline', ns, 'shop', {
        spec: { producer: { startFrom: { kind: 'position', file: target.file, pos: target.pos } } },
      });
      const done = await waitFor(
        'startFrom applied',
        async () => {
          const p = await getPipeline();
          const sf = p?.status?.producer?.startFrom;
          return sf?.applied?.includes(target.file) && !sf.change ? p : undefined;
        },
        90_000,
        200,
      );
      expect(await producerReplicas()).toBe(1);
      expect(condition(done)?.status).toBe('True');
    }
    const cp = await readCheckpoint(where());
    expect(cp).toMatchObject({ file: target.file, pos: target.pos });
    expect(cp?.gtid).toBe(target.gtid);
    const all = await events();
    const reasons = all.map((e) => e.reason);
    for (const r of ['StartFromChangeStarted', 'CheckpointRewritten', 'StartFromApplied']) {
      expect(reasons).toContain(r);
    }
    // The Deployment controller really took the producer down to 0 (and kwok's pod went away).
    expect(
      all.some((e) => e.reason === 'ScalingReplicaSet' && /shop-producer\S* from 1 to 0/.test(e.note ?? '')),
    ).toBe(true);
  });

  it('refuses a position the server does not have, leaving the producer running', async () => {
    await kube.mergePatch('PaymentPipeline', ns, 'shop', {
      spec: { producer: { startFrom: { kind: 'gtid', gtid: '0-2-999999999' } } },
    });
    const p = await waitFor('StartFromRefused', async () => {
      const p = await getPipeline();
      return condition(p)?.reason === 'StartFromRefused' ? p : undefined;
    });
    expect(condition(p)?.status).toBe('False');
    expect(condition(p)?.message).toContain('Remedy');
    expect(await producerReplicas()).toBe(1);
  });

  it('reports a checkpoint whose binlog file is purged', async () => {
    const base = (await head()).file.replace(/\.\d+$/, '');
    await kube.mergePatch('PaymentPipeline', ns, 'shop', {
      spec: { producer: { startFrom: { kind: 'latest' } } },
    });
    // Moving back to latest is a change of its own: let it finish before the checkpoint goes stale.
    await waitFor(
      'startFrom latest applied',
      async () => {
        const status = (await getPipeline())?.status?.producer as
          | { startFrom?: { applied?: string; change?: unknown } }
          | undefined;
        return status?.startFrom?.applied?.includes('latest') && !status.startFrom.change;
      },
      90_000,
      200,
    );
    // What a producer that stood still for a week would find: its file is gone from the server.
    await writeCheckpoint(where(), checkpoint({ file: `${base}.000000`, pos: 4, gtid: null }));
    const p = await waitFor(
      'BinlogFilePurged',
      async () => {
        const p = await getPipeline();
        return condition(p)?.reason === 'BinlogFilePurged' ? p : undefined;
      },
      60_000,
      200,
    );
    expect(condition(p)?.status).toBe('False');
    expect(condition(p)?.message).toMatch(/purged.*Remedy/s);
  });
});
