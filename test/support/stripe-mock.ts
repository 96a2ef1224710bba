// stripe-mock (Stripe's official mock server, started by dev/lib/stripe.sh) with fixtures of its own:
// stripe-mock is stateless and answers every request with its fixture of the resource (with the
// request's parameters reflected), so each outcome a suite needs is one server with patched fixtures.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type PrivateStack, privateStack } from './private-stack.ts';
import { freeStablePort } from './wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');

type Fixtures = { resources: Record<string, Record<string, unknown>> };

/** What the server's PaymentIntents and Refunds look like: their fixture fields replaced. */
export type StripeMockOutcome = {
  paymentIntent?: Record<string, unknown>;
  refund?: Record<string, unknown>;
};

export type StripeMock = { url: string; stop: () => Promise<void> };

/** stripe-mock on a loopback port of its own, in `.local/stripe-mock-<name>` (stopped by `stop`). */
export async function startStripeMock(name: string, outcome: StripeMockOutcome): Promise<StripeMock> {
  const dir = `.local/stripe-mock-${name}`;
  mkdirSync(`${ROOT}/${dir}`, { recursive: true });
  const port = await freeStablePort();
  // First the build (cached) and where its bundled fixtures are.
  const probe = privateStack('outage', ['stripe'], { dir, env: { STRIPE_MOCK_PORT: String(port) } });
  await probe.run('install');
  await probe.run('env');
  const bundled = JSON.parse(readFileSync(probe.env().STRIPE_MOCK_FIXTURES ?? '', 'utf8')) as Fixtures;
  const r = bundled.resources;
  r.payment_intent = { ...r.payment_intent, ...outcome.paymentIntent };
  r.refund = { ...r.refund, ...outcome.refund };
  const fixtures = `${ROOT}/${dir}/fixtures.json`;
  writeFileSync(fixtures, JSON.stringify(bundled));
  const stack: PrivateStack = privateStack('outage', ['stripe'], {
    dir,
    env: { STRIPE_MOCK_PORT: String(port), STRIPE_MOCK_FIXTURES: fixtures },
  });
  await stack.run('up');
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      await stack.run('down');
      rmSync(`${ROOT}/${dir}`, { recursive: true, force: true });
    },
  };
}
