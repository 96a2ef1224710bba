import { describe, expect, it } from 'vitest';
import { versionOf } from '../core/position.ts';
import { SourceHorizon } from './source-horizon.ts';

describe('SourceHorizon', () => {
  it('asks the source only for versions beyond what it knows, and refuses what stays beyond', async () => {
    let source = 100n;
    let asked = 0;
    const horizon = new SourceHorizon(
      async () => {
        asked++;
        return source;
      },
      { confirmDelayMs: 1 },
    );
    expect(await horizon.beyond([versionOf(100n, 3)])).toEqual(new Map());
    expect(asked).toBe(1);
    expect(await horizon.beyond([versionOf(99n, 0), versionOf(100n, 9)])).toEqual(new Map());
    expect(asked).toBe(1);
    source = 120n;
    const refused = await horizon.beyond([versionOf(110n, 0), versionOf(10n ** 15n, 0)]);
    expect([...refused.keys()]).toEqual([1]);
    expect(refused.get(1)).toBe(
      'version beyond the source: GTID sequence 1000000000000000 but the source has produced up to 120',
    );
    expect(asked).toBe(3); // one ask, and one more before refusing
  });

  it('coalesces concurrent asks, each answered by a query that started after it', async () => {
    let source = 10n;
    const started: bigint[] = [];
    const horizon = new SourceHorizon(async () => {
      started.push(source);
      await new Promise((r) => setTimeout(r, 5));
      return source;
    });
    const first = horizon.beyond([versionOf(10n, 0)]);
    source = 11n; // committed after the first query started: the next callers must see it
    const others = await Promise.all([
      horizon.beyond([versionOf(11n, 0)]),
      horizon.beyond([versionOf(11n, 1)]),
    ]);
    expect(await first).toEqual(new Map());
    expect(others).toEqual([new Map(), new Map()]);
    expect(started).toEqual([10n, 11n]);
  });
});
