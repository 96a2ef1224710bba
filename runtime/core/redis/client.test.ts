import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { isClusterRedirect, retryRedirects, scanKeys } from './client.ts';

/** A master node as scanKeys sees it: one SCAN page of keys, or a connection the cluster retired. */
function node(port: number, keys: string[], retired = false): Redis {
  return {
    options: { host: '127.0.0.1', port },
    status: retired ? 'end' : 'ready',
    scan: async () => {
      if (retired) throw new Error('Connection is closed.');
      return ['0', keys];
    },
  } as unknown as Redis;
}

function cluster(listings: Redis[][]): Cluster {
  let call = 0;
  return {
    isCluster: true,
    status: 'ready',
    nodes: () => listings[Math.min(call++, listings.length - 1)],
  } as unknown as Cluster;
}

async function all(gen: AsyncGenerator<string[]>): Promise<string[]> {
  const out: string[] = [];
  for await (const keys of gen) out.push(...keys);
  return out;
}

describe('scanKeys on a cluster', () => {
  it('scans the promoted replica when a master was retired (failover) while the scan ran', async () => {
    const a = node(7000, ['k:a']);
    const failed = node(7001, [], true);
    const promoted = node(7004, ['k:b']);
    const keys = await all(
      scanKeys(
        cluster([
          [a, failed],
          [a, promoted],
        ]),
        'k:*',
      ),
    );
    expect(keys.sort()).toEqual(['k:a', 'k:b']);
  });

  it('still fails on an error of a master the cluster did not retire', async () => {
    const broken = {
      options: { host: '127.0.0.1', port: 7002 },
      status: 'ready',
      scan: async () => {
        throw new Error('NOPERM');
      },
    } as unknown as Redis;
    await expect(all(scanKeys(cluster([[broken]]), 'k:*'))).rejects.toThrow('NOPERM');
  });
});

describe('retryRedirects', () => {
  it('sends again an auto-pipeline ioredis refused because a resharding changed its slot groups', async () => {
    let calls = 0;
    const run = async () => {
      calls++;
      if (calls === 1)
        throw new Error('All keys in the pipeline should belong to the same slots allocation group');
      return 'page';
    };
    expect(await retryRedirects(run)).toBe('page');
    expect(calls).toBe(2);
  });

  it('does not send again what is not a redirect or a refusal before sending', () => {
    expect(isClusterRedirect(new Error('NOPERM this user has no permissions'))).toBe(false);
    expect(
      isClusterRedirect(new Error('All the keys in a pipeline command should belong to the same slot')),
    ).toBe(false);
    expect(isClusterRedirect(new Error('MOVED 3999 127.0.0.1:6381'))).toBe(true);
  });
});
