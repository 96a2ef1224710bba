import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedProvider, type PaymentProvider } from '../../runtime/api/payments/provider.ts';
import { createPurchaseResponse, errorSchema } from '../../runtime/api/schemas.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

/*
 * A payment row deleted in SQL while its confirm is at the provider (between confirm's two
 * transactions) must get a clear 404 in the error shape, replayed as such, never a 500.
 */
let api: ApiHarness;
let token: string;
const simulated = createSimulatedProvider();
/** Deletes the payment (as an operator would, in SQL) while the provider is charging it. */
const deletingProvider: PaymentProvider = {
  name: simulated.name,
  async charge(req) {
    await api.db.admin.query('DELETE FROM payments WHERE id = ?', [req.paymentId]);
    return simulated.charge(req);
  },
  retrieve: (id) => simulated.retrieve(id),
  refund: (req) => simulated.refund(req),
  retrieveRefund: (id) => simulated.retrieveRefund(id),
};

beforeAll(async () => {
  api = await startApi({}, { provider: deletingProvider });
  token = await mintToken(`u_${uniqueSuffix()}`);
});
afterAll(async () => {
  await api?.close();
});

describe('confirm of a payment deleted while the provider is asked', () => {
  it('answers 404 in the error shape, and the same again on retry with the key', async () => {
    const created = await call(api.url, 'POST', '/v1/purchases', {
      token,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': `buy_${uniqueSuffix()}` },
    });
    expect(created.status).toBe(201);
    const paymentId = createPurchaseResponse.parse(created.body).payment.id;
    const confirmKey = `confirm_${uniqueSuffix()}`;
    const confirm = () =>
      call(api.url, 'POST', `/v1/payments/${paymentId}/confirm`, {
        token,
        body: {},
        headers: { 'idempotency-key': confirmKey },
      });

    const first = await confirm();
    expect(first.status).toBe(404);
    expect(errorSchema.parse(first.body).error).toMatchObject({
      type: 'not_found',
      code: 'resource_missing',
    });
    const [rows] = await api.db.admin.query('SELECT COUNT(*) AS n FROM payments WHERE id = ?', [paymentId]);
    expect(Number((rows as { n: number }[])[0]?.n)).toBe(0);

    const retry = await confirm();
    expect(retry.status).toBe(404);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
  });
});
