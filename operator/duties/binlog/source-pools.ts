import { createPool, type Pool } from '../../../runtime/core/db/pool.ts';
import type { PipelineSpec } from '../../api/v1alpha1/spec.ts';
import type { PipelineKey } from './duty.ts';

/** Reads one key of a Secret (decoded); undefined when the key is absent. */
export type SecretReader = (namespace: string, name: string) => Promise<Record<string, string>>;

/**
 * One small pool per pipeline to its source server, as the replication (CDC) user from the
 * pipeline's credentials Secret — the only user the operator needs (SHOW BINARY LOGS, BINLOG_GTID_POS).
 * A changed host, database or password replaces the pool.
 */
export function createSourcePools(readSecret: SecretReader) {
  const pools = new Map<string, { url: string; pool: Pool }>();
  const id = (k: PipelineKey) => `${k.namespace}/${k.name}`;

  return {
    async poolFor(key: PipelineKey, spec: PipelineSpec): Promise<Pool> {
      const secret = await readSecret(key.namespace, spec.mysql.credentialsSecret);
      const user = secret.cdcUsername;
      const password = secret.cdcPassword;
      if (!user || password === undefined) {
        throw new Error(`Secret ${spec.mysql.credentialsSecret} has no cdcUsername/cdcPassword`);
      }
      const u = new URL('mysql://placeholder');
      u.hostname = spec.mysql.host;
      u.port = String(spec.mysql.port);
      u.pathname = `/${spec.mysql.database}`;
      u.username = encodeURIComponent(user);
      u.password = encodeURIComponent(password);
      // mysql.tls: the CA comes from its Secret (the operator's pod has no mount of it).
      const tls = spec.mysql.tls;
      const ca = tls?.caSecret ? (await readSecret(key.namespace, tls.caSecret))['ca.crt'] : undefined;
      if (tls?.caSecret && !ca) throw new Error(`Secret ${tls.caSecret} has no ca.crt`);
      const ssl = tls
        ? { rejectUnauthorized: true, verifyIdentity: tls.mode === 'VERIFY_IDENTITY', ...(ca ? { ca } : {}) }
        : undefined;
      const url = u.toString();
      const cacheKey = `${url}#${tls?.mode ?? ''}#${ca ?? ''}`;
      const existing = pools.get(id(key));
      if (existing?.url === cacheKey) return existing.pool;
      await existing?.pool.end().catch(() => undefined);
      const pool = createPool(url, { connectionLimit: 2, connectTimeout: 5000, ...(ssl && { ssl }) });
      pools.set(id(key), { url: cacheKey, pool });
      return pool;
    },
    async forget(key: PipelineKey): Promise<void> {
      const existing = pools.get(id(key));
      pools.delete(id(key));
      await existing?.pool.end().catch(() => undefined);
    },
    async close(): Promise<void> {
      const all = [...pools.values()];
      pools.clear();
      await Promise.allSettled(all.map((p) => p.pool.end()));
    },
  };
}
