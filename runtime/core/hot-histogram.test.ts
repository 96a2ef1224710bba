import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotHistogram } from './hot-histogram.ts';

const spec = {
  name: 'http_request_duration_seconds',
  help: 'HTTP request latency by route, method and status',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.0005, 0.001, 0.01, 0.1, 1],
};

describe('hot histogram', () => {
  it('exports exactly what a prom-client histogram exports for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    ours.setDefaultLabels({ service: 'api' });
    theirs.setDefaultLabels({ service: 'api' });
    const hot = new HotHistogram({ ...spec, registers: [ours] });
    const reference = new Histogram({ ...spec, registers: [theirs] });
    const observations: Array<[string, string, string, number]> = [
      ['/v1/a', 'GET', '200', 0.0004],
      ['/v1/a', 'GET', '200', 0.0005],
      ['/v1/a', 'GET', '200', 0.003],
      ['/v1/a', 'GET', '404', 2.5],
      ['/v1/b', 'POST', '201', 0.05],
      ['/v1/a', 'GET', '200', 0.9],
    ];
    for (const [route, method, status, v] of observations) {
      hot.child({ route, method, status }).observe(v);
      reference.observe({ route, method, status }, v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('refuses wrong labels, unordered buckets and non-finite values', () => {
    const hot = new HotHistogram({ ...spec, registers: [] });
    expect(() => hot.child({ route: 'r', method: 'GET' } as never)).toThrow(RangeError);
    expect(() => hot.child({ route: 'r', method: 'GET', status: '200', extra: 'x' } as never)).toThrow(
      RangeError,
    );
    expect(() => hot.child({ route: 'r', method: 'GET', status: '200' }).observe(Number.NaN)).toThrow(
      TypeError,
    );
    expect(() => new HotHistogram({ ...spec, buckets: [1, 0.5], registers: [] })).toThrow(RangeError);
  });
});
