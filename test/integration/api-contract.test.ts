import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurchaseResponse, errorSchema } from '../../runtime/api/schemas.ts';
import { silentProgress } from '../../runtime/consumer/progress.ts';
import { rebuildCache } from '../../runtime/consumer/rebuild.ts';
import { CacheWriter } from '../../runtime/core/cache/writer.ts';
import { type ApiHarness, call, startApi } from '../support/api.ts';
import { uniqueSuffix } from '../support/env.ts';
import { mintToken } from '../support/jwt.ts';

// The error contract at the edges of the HTTP layer, against the real api: impossible cursors,
// unsupported media types, unsupported methods, and what Node's HTTP parser and the router refuse
// before any route runs — every one in the API's error shape `{error: {type, code, message}}`.

let api: ApiHarness;
let token: string;
const userId = `ct_${uniqueSuffix()}`;

beforeAll(async () => {
  api = await startApi();
  token = await mintToken(userId);
});
afterAll(async () => {
  await api?.close();
});

const key = () => `k_${uniqueSuffix()}${Math.random().toString(36).slice(2)}`;

function expectError(res: { status: number; body: unknown }, status: number, code: string) {
  expect(res.status).toBe(status);
  const body = errorSchema.parse(res.body);
  expect(body.error.code).toBe(code);
  return body.error;
}

/** What a client could craft: a cursor in the issued encoding around any timestamp. */
const cursorAt = (t: string) => Buffer.from(JSON.stringify({ t, i: 'pur_x' })).toString('base64url');

/** One request written byte for byte on a socket; answers the status line, headers and body. */
function rawRequest(port: number, request: string): Promise<{ status: number; head: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const at = text.indexOf('\r\n\r\n');
      const head = at < 0 ? text : text.slice(0, at);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      let body: unknown = null;
      try {
        body = JSON.parse(text.slice(at + 4));
      } catch {
        body = text.slice(at + 4);
      }
      resolve({ status, head, body });
    });
    socket.write(request);
  });
}

const port = () => Number(new URL(api.url).port);

describe('impossible cursor timestamps', () => {
  const impossible = [
    '2024-13-01T00:00:00.000000Z',
    '0000-00-00T00:00:00.000000Z',
    '2024-02-30T12:00:00.000000Z',
    '2024-01-01T24:00:00.000000Z',
  ];

  it.each(impossible)('%s → 400 cursor_invalid on the MySQL path (Redis holds nothing)', async (t) => {
    const res = await call(api.url, 'GET', `/v1/users/${userId}/purchases?cursor=${cursorAt(t)}`, { token });
    expect(expectError(res, 400, 'cursor_invalid').param).toBe('cursor');
  });

  it.each(impossible)('%s → 400 cursor_invalid on the Redis path', async (t) => {
    const bought = await call(api.url, 'POST', '/v1/purchases', {
      token,
      body: { package_id: 'pkg_plus' },
      headers: { 'idempotency-key': key() },
    });
    createPurchaseResponse.parse(bought.body);
    await rebuildCache({
      pool: api.db.admin,
      redis: api.redis,
      writer: new CacheWriter(api.redis, api.prefix),
      prefix: api.prefix,
      progress: silentProgress,
    });
    const served = await call(api.url, 'GET', `/v1/users/${userId}/purchases`, { token });
    expect(served.headers.get('x-package-source')).toBe('redis');
    const res = await call(api.url, 'GET', `/v1/users/${userId}/purchases?cursor=${cursorAt(t)}`, { token });
    expect(expectError(res, 400, 'cursor_invalid').param).toBe('cursor');
  });
});

describe('media types', () => {
  it.each([
    'text/plain',
    'text/plain; charset=utf-8',
    'application/x-www-form-urlencoded',
    'application/xml',
  ])('a %s body → 415 and nothing written', async (type) => {
    const [before] = await api.db.admin.query('SELECT COUNT(*) AS n FROM purchases');
    const res = await call(api.url, 'POST', '/v1/purchases', {
      token,
      rawBody: '{"package_id":"pkg_plus"}',
      headers: { 'idempotency-key': key(), 'content-type': type },
    });
    expectError(res, 415, 'unsupported_media_type');
    const [after] = await api.db.admin.query('SELECT COUNT(*) AS n FROM purchases');
    expect(after).toEqual(before);
  });

  it('application/json with a charset still works', async () => {
    const res = await call(api.url, 'POST', '/v1/purchases', {
      token,
      rawBody: '{"package_id":"pkg_plus"}',
      headers: { 'idempotency-key': key(), 'content-type': 'application/json; charset=utf-8' },
    });
    expect(res.status).toBe(201);
  });
});

describe('methods', () => {
  it.each([
    ['DELETE', '/v1/purchases', 'POST'],
    ['PUT', '/v1/payments/pay_1/confirm', 'POST'],
    ['POST', '/v1/payments/pay_1', 'GET, HEAD'],
    ['PATCH', `/v1/users/${'u_1'}/purchases`, 'GET, HEAD'],
    ['POST', '/v1/packages', 'GET, HEAD'],
  ])('%s %s → 405 with Allow: %s', async (method, path, allow) => {
    const res = await call(api.url, method, path, { token });
    expectError(res, 405, 'method_not_allowed');
    expect(res.headers.get('allow')).toBe(allow);
  });

  it('an unknown path stays 404', async () => {
    expectError(await call(api.url, 'DELETE', '/v1/nothing', { token }), 404, 'route_not_found');
  });
});

describe('router and parser refusals', () => {
  it('a path parameter over the router limit → 414 in the error shape', async () => {
    const res = await call(api.url, 'GET', `/v1/payments/${'p'.repeat(300)}`, { token });
    expectError(res, 414, 'uri_too_long');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('a malformed percent-encoding in the path → 400 in the error shape', async () => {
    const res = await call(api.url, 'GET', '/v1/payments/%E0%A4%A', { token });
    expectError(res, 400, 'bad_request');
  });

  it('a request line longer than the parser takes → 414 in the error shape (raw socket)', async () => {
    const res = await rawRequest(
      port(),
      `GET /v1/packages?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    expect(res.status).toBe(414);
    expect(errorSchema.parse(res.body).error.code).toBe('uri_too_long');
    expect(res.head.toLowerCase()).toContain('content-type: application/json');
  });

  it('headers larger than the parser takes → 431 in the error shape (raw socket)', async () => {
    const res = await rawRequest(
      port(),
      `GET /v1/packages HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(res.status).toBe(431);
    expect(errorSchema.parse(res.body).error.code).toBe('headers_too_large');
  });

  it('a request the parser cannot read → 400 in the error shape (raw socket)', async () => {
    const res = await rawRequest(port(), 'GET /v1/packages HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    expect(res.status).toBe(400);
    expect(errorSchema.parse(res.body).error.code).toBe('bad_request');
  });

  it('the api still answers afterwards', async () => {
    expect((await call(api.url, 'GET', '/v1/packages', { token })).status).toBe(200);
  });
});

describe('OpenAPI document', () => {
  type Param = { name: string; in: string; required?: boolean; schema: Record<string, unknown> };
  type Operation = { parameters?: Param[]; responses: Record<string, unknown> };
  const operationOf = async (path: string, method: string) => {
    const doc = (await call(api.url, 'GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, Operation>>;
    };
    const op = doc.paths[path]?.[method];
    if (!op) throw new Error(`no ${method} ${path} in the document`);
    return op;
  };

  it('names the webhook signature header with its format', async () => {
    const op = await operationOf('/v1/webhooks/provider', 'post');
    const header = op.parameters?.find((p) => p.name.toLowerCase() === 'x-provider-signature');
    expect(header).toMatchObject({ in: 'header', required: true, schema: { type: 'string' } });
    expect(header?.schema.pattern).toEqual(expect.any(String));
  });

  it('gives cursor and consistency_token their length and format limits', async () => {
    const op = await operationOf('/v1/users/{user_id}/purchases', 'get');
    const cursor = op.parameters?.find((p) => p.name === 'cursor');
    const token = op.parameters?.find((p) => p.name === 'consistency_token');
    expect(cursor?.schema).toMatchObject({
      type: 'string',
      minLength: 1,
      maxLength: 512,
      pattern: expect.any(String),
    });
    expect(token?.schema).toMatchObject({
      type: 'string',
      minLength: 1,
      maxLength: 2048,
      pattern: expect.any(String),
    });
  });

  it('documents 413/415 on bodies, 414/429/503 everywhere, with Retry-After where it is sent', async () => {
    const post = await operationOf('/v1/purchases', 'post');
    for (const status of ['405', '413', '414', '415', '429', '503'])
      expect(post.responses).toHaveProperty(status);
    const get = await operationOf('/v1/payments/{payment_id}', 'get');
    for (const status of ['405', '414', '429', '503']) expect(get.responses).toHaveProperty(status);
    expect(get.responses).not.toHaveProperty('415');
    expect(post.responses['429']).toMatchObject({ headers: { 'Retry-After': expect.any(Object) } });
    expect(post.responses['503']).toMatchObject({ headers: { 'Retry-After': expect.any(Object) } });
  });

  it('is what the server does: every operation answers with the auth and Idempotency-Key rule it documents', async () => {
    const doc = (await call(api.url, 'GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, Operation & { security?: unknown[] }>>;
    };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    expect(operations.length).toBeGreaterThan(5);
    for (const { path, method, op } of operations) {
      const url = path.replace(/\{[^}]+\}/g, `x_${uniqueSuffix()}`);
      const what = `${method} ${path}`;
      const body = method === 'POST' ? {} : undefined;
      const anonymous = await call(api.url, method, url, body === undefined ? {} : { body });
      expect(anonymous.status, what).not.toBe(404);
      expect(anonymous.status, what).not.toBe(405);
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      if (isPublic) {
        expect(anonymous.status, what).not.toBe(401);
        continue;
      }
      expect(anonymous.status, what).toBe(401);
      expect(op.responses, what).toHaveProperty('401');
      const needsKey = op.parameters?.some((p) => p.name === 'Idempotency-Key' && p.required) ?? false;
      const withToken = await call(api.url, method, url, body === undefined ? { token } : { token, body });
      if (needsKey) {
        expect(withToken.status, what).toBe(400);
        expect(errorSchema.parse(withToken.body).error.code, what).toBe('idempotency_key_missing');
      } else {
        expect((withToken.body as { error?: { code?: string } } | null)?.error?.code, what).not.toBe(
          'idempotency_key_missing',
        );
      }
      if ('403' in op.responses) expect(withToken.status, what).toBe(403);
    }
  });
});
