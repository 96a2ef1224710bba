import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, checked } from './openapi.ts';
import { routeTable } from './routes/table.ts';
import { createPurchaseBody } from './schemas.ts';

type Media = { schema: unknown; examples?: Record<string, { summary: string; value: unknown }> };
type Op = {
  operationId?: string;
  tags?: string[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
};

const doc = buildOpenApiDocument() as { paths: Record<string, Record<string, Op>> };
const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ what: `${method.toUpperCase()} ${path}`, op })),
);

describe('the OpenAPI document', () => {
  it('names every operation once and tags it (the reference page groups and links by them)', () => {
    const ids = operations.map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { what, op } of operations) expect(op.tags?.length, what).toBe(1);
  });

  it('has examples for every request body and every response, errors in the error shape', () => {
    for (const { what, op } of operations) {
      if (op.requestBody) {
        const media = op.requestBody.content['application/json'];
        expect(Object.keys(media?.examples ?? {}).length, `${what} request body`).toBeGreaterThan(0);
      }
      for (const [status, response] of Object.entries(op.responses)) {
        const examples = Object.values(response.content?.['application/json']?.examples ?? {});
        expect(examples.length, `${what} ${status}`).toBeGreaterThan(0);
        if (Number(status) >= 400) {
          for (const e of examples) {
            expect(e.value, `${what} ${status}`).toMatchObject({
              error: { type: expect.any(String), code: expect.any(String), message: expect.any(String) },
            });
          }
        }
      }
    }
  });

  it('refuses an example its schema does not accept, so examples cannot drift', () => {
    const ok = { summary: 'fine', value: { package_id: 'pkg_starter' } };
    expect(checked(createPurchaseBody, ok)).toBe(ok);
    const drifted = { summary: 'drifted', value: { package: 'pkg_starter' } };
    expect(() => checked(createPurchaseBody, drifted)).toThrow(/OpenAPI example "drifted"/);
  });

  it("embeds no per-schema $schema (the dialect is the document's)", () => {
    expect(JSON.stringify(doc)).not.toContain('"$schema"');
  });

  it('documents each route of the table once, under its name, with its Idempotency-Key and scope rules', () => {
    const documented = operations.map(({ what, op }) => `${what} ${op.operationId}`).sort();
    const table = Object.entries(routeTable)
      .map(([name, r]) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')} ${name}`)
      .sort();
    expect(documented).toEqual(table);
    for (const [name, route] of Object.entries(routeTable)) {
      const op = operations.find(({ op }) => op.operationId === name)?.op as Op & {
        parameters?: { name: string; in: string; required?: boolean; schema: { pattern?: string } }[];
      };
      const key = op.parameters?.find((p) => p.name === 'Idempotency-Key');
      if ('idempotencyKey' in route && route.idempotencyKey) {
        expect(key, name).toMatchObject({
          in: 'header',
          required: true,
          schema: { pattern: '^[A-Za-z0-9_.:-]{8,255}$' },
        });
      } else {
        expect(key, name).toBeUndefined();
      }
      expect('403' in op.responses, name).toBe(route.auth === 'admin');
    }
  });
});
