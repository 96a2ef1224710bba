import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaAdmin } from '../../runtime/core/kafka/index.ts';
import { apiClient } from '../e2e/api-client.ts';
import { runTool } from '../e2e/harness.ts';
import { requireEnv, uniqueSuffix } from '../support/env.ts';
import { commitAndLocate, createTestDatabase, type TestDatabase } from '../support/mysql.ts';
import { readTopic } from '../support/producer.ts';
import { deleteRedisKeys } from '../support/redis.ts';
import { eventually, waitFor } from '../support/wait.ts';
import {
  ctr,
  helm,
  hostPids,
  kubectl,
  kubectlJson,
  type Pod,
  podReady,
  pods,
  requireRealNode,
} from './support.ts';

/**
 * "Done when" 1 of the real node: `helm install` of the chart runs the operator as a pod (its image,
 * its RBAC), `kubectl apply` of a PaymentPipeline against the test stack's MariaDB, Kafka and Redis
 * brings up real producer, consumer and api containers, and a purchase made through the api pod is
 * served from Redis.
 */

// One release per cluster: the chart's CRD is kept on uninstall and stays owned by this release.
const NS = 'payments-pods';
const RELEASE = 'payment-pipeline-operator';
const PIPELINE = 'payments';
const IMAGE = `payment-pipeline:${process.env.npm_package_version ?? '0.1.0'}`;

type Pipeline = {
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    producer?: { position?: { gtid?: string } };
    consumer?: { lag?: number; currentReplicas?: number };
  };
};

const credentials = (url: string) => {
  const u = new URL(url);
  return { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
};

describe('the pipeline on a real node (helm install + kubectl apply)', () => {
  let db: TestDatabase;
  const prefix = `pods${uniqueSuffix()}`;
  const jwtSecret = `pods-${uniqueSuffix()}-${uniqueSuffix()}`;
  let redis: Redis;

  /** The PaymentPipeline as the API server has it. */
  const getPipeline = <T extends Pipeline = Pipeline>() =>
    kubectlJson<T>(['-n', NS, 'get', 'paymentpipeline', PIPELINE]);
  /** A merge patch of its spec. */
  const patchSpec = (spec: Record<string, unknown>) =>
    kubectl(['-n', NS, 'patch', 'paymentpipeline', PIPELINE, '--type=merge', '-p', JSON.stringify({ spec })]);
  /** The label selector of the pipeline's pods of one component. */
  const componentSelector = (component: string) =>
    `app.kubernetes.io/instance=${PIPELINE},app.kubernetes.io/component=${component}`;
  /** Those pods, less the ones being deleted. */
  const componentPods = async (component: string) =>
    (await pods(NS, componentSelector(component))).filter((p) => !p.metadata.deletionTimestamp);
  /** The shipped checker (verify-main.ts) of Redis against MySQL for this pipeline. */
  const verifyCache = () =>
    runTool('runtime/consumer/verify-main.ts', {
      MYSQL_URL: db.appUrl,
      REDIS_URL: requireEnv('REDIS_URL'),
      KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
      TOPIC_PREFIX: prefix,
      REDIS_KEY_PREFIX: prefix,
      VERIFY_WAIT_SECONDS: '60',
    });

  beforeAll(async () => {
    requireRealNode();
    db = await createTestDatabase();
    redis = new Redis(requireEnv('REDIS_URL'));
    redis.on('error', () => undefined);
    // A namespace left by an interrupted run goes first (its pods would hold the release's names).
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=120s']);
    await helm([
      'install',
      RELEASE,
      'helm',
      '--namespace',
      NS,
      '--create-namespace',
      // The chart keeps its CRD on uninstall; a later release (this suite's next run, `make deploy`)
      // adopts it.
      '--take-ownership',
      '--set',
      'replicaCount=1',
      '--set',
      'duties.autoscaleIntervalSeconds=5',
      '--set',
      'duties.positionRefreshSeconds=5',
      '--wait',
      '--timeout',
      '180s',
    ]);
    const app = credentials(db.appUrl);
    const cdc = credentials(db.cdcUrl);
    await kubectl(
      ['-n', NS, 'apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'payments-mysql' },
            stringData: {
              username: app.user,
              password: app.password,
              cdcUsername: cdc.user,
              cdcPassword: cdc.password,
            },
          },
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'payments-auth' },
            stringData: { jwtSecret, consistencyTokenSecret: `${jwtSecret}-consistency-token-key` },
          },
        ],
      }),
    );
    const mysql = new URL(requireEnv('MYSQL_URL'));
    await kubectl(
      ['-n', NS, 'apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'payments.example.com/v1alpha1',
        kind: 'PaymentPipeline',
        metadata: { name: PIPELINE },
        spec: {
          image: IMAGE,
          imagePullPolicy: 'Never',
          mysql: {
            host: mysql.hostname,
            port: Number(mysql.port),
            database: db.name,
            credentialsSecret: 'payments-mysql',
            serverId: 20_000 + Math.floor(Math.random() * 40_000),
            tables: ['customers', 'packages', 'purchases', 'payments'],
          },
          kafka: {
            bootstrap: requireEnv('KAFKA_BROKERS'),
            topicPrefix: prefix,
            partitions: 3,
            replicationFactor: 1,
          },
          redis: { url: requireEnv('REDIS_URL'), keyPrefix: prefix },
          producer: { startFrom: { kind: 'latest' }, snapshot: 'initial' },
          consumer: { minReplicas: 1, maxReplicas: 2, lagThreshold: 1000 },
          api: {
            replicas: 1,
            authSecret: 'payments-auth',
            allowSimulatedProvider: true,
            service: { type: 'ClusterIP', port: 80 },
          },
          monitoring: { serviceMonitor: false },
        },
      }),
    );
  }, 300_000);

  afterAll(async () => {
    await kubectl([
      '-n',
      NS,
      'delete',
      'paymentpipeline',
      PIPELINE,
      '--ignore-not-found',
      '--wait=true',
    ]).catch(() => undefined);
    await helm(['uninstall', RELEASE, '--namespace', NS, '--wait']).catch(() => undefined);
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true', '--timeout=120s']).catch(
      () => undefined,
    );
    if (redis) {
      await deleteRedisKeys(redis, prefix);
      redis.disconnect();
    }
    const admin = createKafkaAdmin({ brokers: requireEnv('KAFKA_BROKERS').split(','), clientId: prefix });
    try {
      const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
      if (mine.length > 0) await admin.deleteTopics(mine);
    } finally {
      await admin.close();
    }
    await db?.drop();
  }, 300_000);

  it('runs the operator from its chart as a real container on a containerd node', async () => {
    const node = await kubectlJson<{
      items: { metadata: { name: string }; status: { nodeInfo: { containerRuntimeVersion: string } } }[];
    }>(['get', 'nodes']);
    expect(node.items.map((n) => n.status.nodeInfo.containerRuntimeVersion)).toEqual([
      expect.stringMatching(/^containerd:\/\/2\./),
    ]);
    const [operator] = await waitFor(
      'the operator pod Ready',
      async () => {
        const p = await pods(NS, 'app.kubernetes.io/name=payment-pipeline-operator');
        return p.length === 1 && p.every(podReady) ? p : undefined;
      },
      120_000,
      1000,
    );
    const id = operator?.status.containerStatuses?.[0]?.containerID ?? '';
    expect(id).toMatch(/^containerd:\/\//);
    expect(hostPids(id).map((p) => p.cmdline)).toContain('node operator/main.ts');
  });

  it('brings up real producer, consumer and api pods, Ready, each a process on this host', async () => {
    const ready = await waitFor(
      'producer, consumer and api pods Ready',
      async () => {
        const all = await pods(NS, `app.kubernetes.io/instance=${PIPELINE}`);
        const byComponent = new Map<string, Pod>();
        for (const p of all.filter(podReady)) {
          byComponent.set(p.metadata.labels?.['app.kubernetes.io/component'] ?? '', p);
        }
        return ['producer', 'consumer', 'api'].every((c) => byComponent.has(c)) ? byComponent : undefined;
      },
      240_000,
      1000,
    );
    for (const component of ['producer', 'consumer', 'api']) {
      const pod = ready.get(component) as Pod;
      const id = pod.status.containerStatuses?.[0]?.containerID ?? '';
      expect(hostPids(id).map((p) => p.cmdline)).toContain(`node runtime/${component}/main.ts`);
    }
  });

  it('serves a purchase made through the api pod from Redis, and kubectl shows the pipeline Ready', async () => {
    const [api] = await pods(NS, componentSelector('api'));
    const client = apiClient(`http://${api?.status.podIP}:8080`, { secret: jwtSecret, timeoutMs: 10_000 });
    const user = `u_pods_${uniqueSuffix()}`;
    const created = await client.createPurchase(user, 'pkg_plus');
    expect(created.status).toBe(201);
    const paymentId = (created.body.payment as { id: string }).id;
    const purchaseId = (created.body.purchase as { id: string }).id;
    expect((await client.confirm(user, paymentId)).status).toBe(200);
    const page = await eventually(
      'the paid purchase served from redis',
      () => client.purchases(user),
      (r) =>
        r.headers.get('x-package-source') === 'redis' &&
        ((r.body.items ?? []) as { paid?: boolean }[]).some((i) => i.paid === true),
      90_000,
    );
    expect(page.body.items).toEqual([
      expect.objectContaining({
        purchase_id: purchaseId,
        paid: true,
        payment: { id: paymentId, status: 'succeeded' },
      }),
    ]);

    // The CR's status and printer columns: Ready, the producer's position, the consumer lag, replicas.
    const status = await waitFor(
      'PaymentPipeline Ready with a position and lag',
      async () => {
        const p = await getPipeline();
        const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
        return ready && p.status?.producer?.position?.gtid && p.status?.consumer?.lag !== undefined
          ? p.status
          : undefined;
      },
      120_000,
      1000,
    );
    const table = await kubectl(['-n', NS, 'get', 'paymentpipelines']);
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'READY', 'POSITION', 'LAG', 'REPLICAS', 'AGE']);
    const cells = row?.split(/\s+/) ?? [];
    expect(cells.slice(0, 5)).toEqual([
      PIPELINE,
      'True',
      status.producer?.position?.gtid,
      String(status.consumer?.lag),
      String(status.consumer?.currentReplicas),
    ]);
    expect(Number(cells[4])).toBeGreaterThanOrEqual(1);
  });
  it('recovers by itself from a consumer container killed with SIGKILL and a deleted producer pod, losing nothing', async () => {
    const [api] = await componentPods('api');
    const client = apiClient(`http://${api?.status.podIP}:8080`, { secret: jwtSecret, timeoutMs: 10_000 });
    const users = [0, 1, 2].map((i) => `u_crash_${i}_${uniqueSuffix()}`);
    const made = new Map<string, string[]>(users.map((u) => [u, []]));
    const buy = async (round: number) => {
      for (const user of users) {
        const r = await client.createPurchase(user, 'pkg_plus');
        expect(r.status, `purchase of round ${round}: ${JSON.stringify(r.body)}`).toBe(201);
        made.get(user)?.push((r.body.purchase as { id: string }).id);
        const paymentId = (r.body.payment as { id: string }).id;
        expect((await client.confirm(user, paymentId)).status).toBe(200);
      }
    };
    await buy(1);

    const [consumer] = await componentPods('consumer');
    const [producer] = await componentPods('producer');
    const consumerStatus = consumer?.status.containerStatuses?.[0];
    const [proc] = hostPids(consumerStatus?.containerID ?? '').filter((p) =>
      p.cmdline.includes('runtime/consumer'),
    );
    expect(proc, 'the consumer process on this host').toBeDefined();
    process.kill(proc?.pid as number, 'SIGKILL');
    await kubectl(['-n', NS, 'delete', 'pod', producer?.metadata.name ?? '', '--wait=false']);
    // Written while both are down or coming back: the producer resumes from its checkpoint.
    await buy(2);

    await waitFor(
      'the consumer container restarted and Ready, a new producer pod Ready',
      async () => {
        const [c] = await componentPods('consumer');
        const p = (await componentPods('producer')).filter(
          (x) => x.metadata.name !== producer?.metadata.name,
        );
        const restarted =
          (c?.status.containerStatuses?.[0]?.restartCount ?? 0) > (consumerStatus?.restartCount ?? 0);
        return c && restarted && podReady(c) && p.length === 1 && p.every(podReady);
      },
      180_000,
      1000,
    );
    await buy(3);

    // Every purchase exactly once in each user's package from Redis, and the shipped checker agrees.
    for (const user of users) {
      const page = await eventually(
        `${user}'s purchases in redis`,
        () => client.purchases(user),
        (r) =>
          r.headers.get('x-package-source') === 'redis' &&
          ((r.body.items ?? []) as { paid?: boolean }[]).filter((i) => i.paid).length === 3,
        120_000,
      );
      const ids = ((page.body.items ?? []) as { purchase_id: string }[]).map((i) => i.purchase_id).sort();
      expect(ids).toEqual([...(made.get(user) ?? [])].sort());
    }
    const verify = await verifyCache();
    expect(verify.output).toContain('verify: Redis equals MySQL');
    expect(verify.code).toBe(0);
  });
  it('applies a startFrom change on real pods: the producer pod stops, the checkpoint is rewritten, the new pod resumes exactly there', async () => {
    const topic = `${prefix}.${db.name}.packages`;
    const commit = (n: number) =>
      commitAndLocate(
        db.admin,
        'INSERT INTO packages (id, name, price_amount, currency) VALUES (?, ?, 100, ?)',
        [`pkg_sf_${n}`, `start-from probe ${n}`, 'EUR'],
      );
    // The binlog position right after the first probe's transaction (read from the server itself).
    const afterFirst = await commit(1);
    await commit(2);
    await commit(3);
    const count = (ms: { value: unknown }[], n: number) =>
      ms.filter((m) => {
        const v =
          typeof m.value === 'string' ? (JSON.parse(m.value) as { after?: { id?: string } }) : undefined;
        return v?.after?.id === `pkg_sf_${n}`;
      }).length;
    await readTopic(topic, (m) => count(m, 3) >= 1, 60_000);
    // Terminating pods included: the new pod alone runs once the old one is gone.
    const producerPods = () => pods(NS, componentSelector('producer'));
    const [before] = await producerPods();

    await patchSpec({
      producer: { startFrom: { kind: 'position', file: afterFirst.file, pos: afterFirst.pos } },
    });
    const reasons = async () =>
      (
        await kubectlJson<{ items: { reason: string; involvedObject: { name: string } }[] }>([
          '-n',
          NS,
          'get',
          'events',
          '--field-selector',
          `involvedObject.name=${PIPELINE}`,
        ])
      ).items.map((e) => e.reason);
    await waitFor(
      'StartFromApplied, a new producer pod Ready',
      async () => {
        const p = await producerPods();
        const r = await reasons();
        return (
          r.includes('StartFromApplied') &&
          p.length === 1 &&
          p[0]?.metadata.name !== before?.metadata.name &&
          podReady(p[0] as Pod)
        );
      },
      240_000,
      1000,
    );
    expect(await reasons()).toEqual(
      expect.arrayContaining(['StartFromChangeStarted', 'CheckpointRewritten', 'StartFromApplied']),
    );
    // The old pod is gone (the procedure waits for no producer pod at all before it rewrites).
    expect((await producerPods()).map((p) => p.metadata.name)).not.toContain(before?.metadata.name);

    // Rows 2 and 3 come again (resumed right after row 1), row 1 does not.
    await readTopic(topic, (m) => count(m, 2) >= 2 && count(m, 3) >= 2, 60_000);
    const all = await readTopic(topic, (m) => count(m, 1) > 1 || count(m, 2) > 2 || count(m, 3) > 2, 5_000);
    expect([1, 2, 3].map((n) => count(all, n))).toEqual([1, 2, 2]);
  });

  it('scales the consumer Deployment on a backlog of the real topics, real pods drain it, and it falls only after the window', async () => {
    const WINDOW_S = 30;
    const LAG_THRESHOLD = 500;
    const replicas = async () =>
      (
        await kubectlJson<{ spec: { replicas: number } }>([
          '-n',
          NS,
          'get',
          'deployment',
          `${PIPELINE}-consumer`,
        ])
      ).spec.replicas;
    const lag = async () => (await getPipeline()).status?.consumer?.lag;
    await patchSpec({
      consumer: {
        minReplicas: 1,
        maxReplicas: 3,
        lagThreshold: LAG_THRESHOLD,
        scaleDownStabilizationSeconds: WINDOW_S,
      },
    });
    await waitFor(
      'lag 0 and one consumer',
      async () => (await lag()) === 0 && (await replicas()) === 1,
      120_000,
      1000,
    );

    // The backlog: 60,000 purchases in one statement, captured by the producer pod into the real topics.
    const t0 = performance.now();
    await db.admin.query(
      `INSERT INTO purchases (id, user_id, package_id, amount, currency)
       WITH d (n) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
                      UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
            s (n) AS (SELECT a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n FROM d a, d b, d c, d e, d f)
       SELECT CONCAT('pur_backlog_', n), CONCAT('u_backlog_', n % 600), 'pkg_plus', 1999, 'EUR' FROM s WHERE n < 60000`,
    );
    await waitFor('the consumer Deployment scaled up', async () => (await replicas()) > 1, 120_000, 250);
    const scaledAt = performance.now();
    await waitFor(
      'more than one consumer pod Ready',
      async () => (await pods(NS, componentSelector('consumer'))).filter(podReady).length > 1,
      120_000,
      1000,
    );
    const joinedAt = performance.now();
    // The last moment the status showed a lag above the threshold: the operator's last recommendation
    // of more than one replica came no later, so the scale-down window runs from no earlier than this.
    let lastHighAt = scaledAt; // the scale-up itself was a high recommendation
    await waitFor(
      'the backlog drained',
      async () => {
        const now = await lag();
        if (now !== undefined && now > LAG_THRESHOLD) lastHighAt = performance.now();
        return now === 0;
      },
      300_000,
      500,
    );
    const drainedAt = performance.now();
    await waitFor('back to one consumer', async () => (await replicas()) === 1, (WINDOW_S + 120) * 1000, 500);
    const downAt = performance.now();
    const s = (ms: number) => (ms / 1000).toFixed(1);
    console.info(
      `real pods, lag autoscaling: backlog → scaled ${s(scaledAt - t0)} s, scaled → second pod Ready ${s(joinedAt - scaledAt)} s, ` +
        `scaled → drained ${s(drainedAt - scaledAt)} s, drained → scaled down ${s(downAt - drainedAt)} s (window ${WINDOW_S} s)`,
    );
    // The window runs from the operator's last high recommendation. The status the test polls (every
    // 0.5 s) shows the lag of the operator's latest sample (one every 5 s), so that sample was taken at
    // most 5 s + 1 s before lastHighAt: the scale-down comes at least WINDOW_S - 6 s after lastHighAt.
    expect(downAt - lastHighAt, `drained → scaled down ${s(downAt - drainedAt)} s`).toBeGreaterThanOrEqual(
      (WINDOW_S - 6) * 1000,
    );
    // Drained means applied: Redis holds every row of the backlog as MySQL does.
    const verify = await verifyCache();
    expect(verify.output).toContain('verify: Redis equals MySQL');
  });

  it('reports a producer crash-looping on a wrong MySQL password as Degraded, and recovers when the Secret is fixed, the CR untouched', async () => {
    type Cr = Pipeline & { metadata: { generation: number } };
    const cr = () => getPipeline<Cr>();
    const condition = (p: Cr, type: string) => p.status?.conditions?.find((c) => c.type === type);
    const producers = () => componentPods('producer');
    const healthy = (p: Cr) =>
      condition(p, 'Ready')?.status === 'True' && condition(p, 'Degraded')?.status === 'False';
    const before = await eventually('the pipeline Ready, not Degraded', cr, healthy, 240_000);
    const secret = await kubectlJson<{ data: Record<string, string> }>([
      '-n',
      NS,
      'get',
      'secret',
      'payments-mysql',
    ]);
    const cdcPassword = secret.data.cdcPassword as string;
    const setCdcPassword = (base64: string) =>
      kubectl([
        '-n',
        NS,
        'patch',
        'secret',
        'payments-mysql',
        '-p',
        JSON.stringify({ data: { cdcPassword: base64 } }),
      ]);
    let degradedAfterMs = 0;
    let degradedMessage: string | undefined;
    let crashing: Pod;
    try {
      await setCdcPassword(Buffer.from('not-the-password').toString('base64'));
      // The kubelet reads a Secret into env when it starts a container: the next producer pod gets it.
      const [old] = await producers();
      await kubectl(['-n', NS, 'delete', 'pod', old?.metadata.name ?? '', '--wait=false']);

      crashing = await waitFor(
        'a producer pod crash-looping',
        async () => {
          const [p] = (await producers()).filter((x) => x.metadata.uid !== old?.metadata.uid);
          const s = p?.status.containerStatuses?.[0];
          const waiting = s?.state?.waiting as { reason?: string } | undefined;
          return s && s.restartCount >= 1 && waiting?.reason === 'CrashLoopBackOff' ? p : undefined;
        },
        180_000,
        1000,
      );
      const loopSeen = Date.now();
      const degraded = await eventually(
        'Degraded naming the producer and CrashLoopBackOff',
        cr,
        (p) => condition(p, 'Degraded')?.status === 'True',
        60_000,
      );
      degradedAfterMs = Date.now() - loopSeen;
      degradedMessage = condition(degraded, 'Degraded')?.message;
      expect(condition(degraded, 'Degraded')).toMatchObject({ reason: 'CrashLoopBackOff' });
      expect(condition(degraded, 'Degraded')?.message).toMatch(
        new RegExp(
          `^producer: pod ${crashing.metadata.name} container producer CrashLoopBackOff .*exit code [1-9]`,
        ),
      );
      expect(condition(degraded, 'Ready')?.status).toBe('False');
    } finally {
      // Put back even when an assertion failed, so the suite's later tests find a working producer.
      await setCdcPassword(cdcPassword);
    }
    const fixed = Date.now();
    // The same pod recovers: the kubelet's next restart reads the fixed Secret (back-off ≤ 80 s here).
    const after = await eventually('the pipeline Ready again, not Degraded', cr, healthy, 300_000);
    const [recovered] = await producers();
    expect(recovered?.metadata.uid).toBe(crashing.metadata.uid);
    expect(recovered && podReady(recovered)).toBe(true);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    console.log(
      `crash loop seen → Degraded: ${degradedAfterMs} ms; Secret fixed → Ready, not Degraded: ${Date.now() - fixed} ms (${crashing.status.containerStatuses?.[0]?.restartCount} restarts when seen)`,
    );
    console.log(`Degraded: ${degradedMessage}`);
  }, 600_000);

  it('rolls the operator and the components to a new image tag, and helm uninstall + CR deletion leave nothing on the node', async () => {
    const next = `${IMAGE.split(':')[1]}-next`;
    // A new tag of the same images, as a rebuilt release would be imported (nothing is pulled).
    for (const name of ['payment-pipeline', 'payment-pipeline-operator']) {
      await ctr([
        'images',
        'tag',
        '--force',
        `docker.io/library/${name}:${IMAGE.split(':')[1]}`,
        `docker.io/library/${name}:${next}`,
      ]);
    }
    const imageOf = (p: Pod & { spec: { containers?: { image: string }[] } }) =>
      p.spec.containers?.[0]?.image;
    try {
      await helm([
        'upgrade',
        RELEASE,
        'helm',
        '--namespace',
        NS,
        '--reuse-values',
        '--set',
        `image.tag=${next}`,
        '--wait',
        '--timeout',
        '180s',
      ]);
      await waitFor(
        'the operator rolled to the new tag',
        async () => {
          const p = (await pods(NS, 'app.kubernetes.io/name=payment-pipeline-operator')) as (Pod & {
            spec: { containers?: { image: string }[] };
          })[];
          return (
            p.length === 1 &&
            p.every((x) => podReady(x) && imageOf(x) === `payment-pipeline-operator:${next}`)
          );
        },
        120_000,
        1000,
      );
      await patchSpec({ image: `payment-pipeline:${next}` });
      await waitFor(
        'producer, consumer and api rolled to the new tag and Ready',
        async () => {
          const all = (await pods(NS, `app.kubernetes.io/instance=${PIPELINE}`)) as (Pod & {
            spec: { containers?: { image: string }[] };
          })[];
          const components = new Set(all.map((p) => p.metadata.labels?.['app.kubernetes.io/component']));
          return (
            components.size === 3 &&
            all.every((p) => podReady(p) && imageOf(p) === `payment-pipeline:${next}`)
          );
        },
        240_000,
        1000,
      );
      const running = await pods(NS);
      const containerIds = running.flatMap((p) =>
        (p.status.containerStatuses ?? []).map((c) => c.containerID ?? ''),
      );
      expect(containerIds.every((id) => hostPids(id).length > 0)).toBe(true);

      await kubectl(['-n', NS, 'delete', 'paymentpipeline', PIPELINE, '--wait=true', '--timeout=120s']);
      await helm(['uninstall', RELEASE, '--namespace', NS, '--wait']);
      await waitFor('no pod left in the namespace', async () => (await pods(NS)).length === 0, 120_000, 1000);
      // The kubelet removes the containers and sandboxes of deleted pods (its garbage collection runs every minute).
      const left = () =>
        ctr(['containers', 'ls', '-q', `labels."io.kubernetes.pod.namespace"==${NS}`]).then((o) => o.trim());
      await waitFor(
        'no container of the namespace left on the node',
        async () => (await left()) === '',
        150_000,
        2000,
      );
      expect(containerIds.flatMap((id) => hostPids(id))).toEqual([]);
      for (const name of ['payment-pipeline', 'payment-pipeline-operator']) {
        expect(await ctr(['containers', 'ls', '-q', `image==docker.io/library/${name}:${next}`])).toBe('');
      }
    } finally {
      for (const name of ['payment-pipeline', 'payment-pipeline-operator']) {
        await ctr(['images', 'rm', `docker.io/library/${name}:${next}`]).catch(() => undefined);
      }
    }
  });
});
