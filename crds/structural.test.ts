import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildCrd, toStructural } from './generate.ts';
import { structuralErrors } from './structural.ts';

const obj = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'object',
  properties,
  ...extra,
});

describe('structural schema rules (what the API server checks on a CRD)', () => {
  it('the generated PaymentPipeline schema breaks none', () => {
    const crd = buildCrd() as { spec: { versions: { schema: { openAPIV3Schema: unknown } }[] } };
    expect(structuralErrors(crd.spec.versions[0]?.schema.openAPIV3Schema)).toEqual([]);
  });

  it('a z.strictObject (additionalProperties: false beside properties) is refused: the defect the API server caught', () => {
    const schema = toStructural(
      z.toJSONSchema(z.object({ tls: z.strictObject({ enabled: z.boolean() }) }), { io: 'input' }),
    );
    expect(structuralErrors(schema)).toEqual([
      'openAPIV3Schema.properties.tls: properties and additionalProperties are mutually exclusive',
      'openAPIV3Schema.properties.tls: additionalProperties: false is not allowed',
    ]);
  });

  it('every object, array and property is typed; an array has items', () => {
    expect(structuralErrors(obj({ a: { description: 'no type' } }))).toEqual([
      'openAPIV3Schema.properties.a: type must be set (or x-kubernetes-int-or-string / preserve-unknown-fields)',
    ]);
    expect(structuralErrors(obj({ list: { type: 'array' } }))).toEqual([
      'openAPIV3Schema.properties.list: type: array needs items',
    ]);
    expect(structuralErrors(obj({ list: { type: 'array', items: {} } }))[0]).toMatch(
      /list\.items: type must be set/,
    );
    expect(structuralErrors(obj({ n: { type: 'null' } }))[0]).toMatch(/type must be one of/);
    expect(structuralErrors(obj({ v: { 'x-kubernetes-int-or-string': true } }))).toEqual([]);
  });

  it('refuses keywords Kubernetes does not have, and JSON Schema 2020 bounds', () => {
    expect(structuralErrors(obj({ a: { type: 'string', const: 'x' } }))).toEqual([
      'openAPIV3Schema.properties.a: const is not a field of a Kubernetes schema',
    ]);
    expect(
      structuralErrors({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object' }),
    ).toHaveLength(1);
    expect(structuralErrors(obj({ n: { type: 'integer', exclusiveMinimum: 0 } }))[0]).toMatch(
      /exclusiveMinimum must be a boolean/,
    );
    expect(
      structuralErrors(obj({ s: { type: 'array', items: { type: 'string' }, uniqueItems: true } })),
    ).toHaveLength(1);
  });

  it('places x-kubernetes-* extensions only where they apply', () => {
    expect(structuralErrors(obj({ a: { type: 'string', 'x-kubernetes-list-type': 'set' } }))[0]).toMatch(
      /list-type needs type: array/,
    );
    expect(
      structuralErrors(
        obj({ a: { type: 'array', items: { type: 'string' }, 'x-kubernetes-map-type': 'atomic' } }),
      )[0],
    ).toMatch(/map-type needs type: object/);
    const listMap = (keys: unknown) => ({
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': keys,
      items: obj({ name: { type: 'string' } }, { required: ['name'] }),
    });
    expect(structuralErrors(obj({ l: listMap(['name']) }))).toEqual([]);
    expect(structuralErrors(obj({ l: listMap(['missing']) }))[0]).toMatch(/list map key missing/);
    expect(structuralErrors(obj({ a: { type: 'string', 'x-kubernetes-int-or-string': true } }))[0]).toMatch(
      /int-or-string: true goes without a type/,
    );
    expect(
      structuralErrors(obj({ a: { type: 'string', 'x-kubernetes-preserve-unknown-fields': false } }))[0],
    ).toMatch(/must be true/);
    expect(
      structuralErrors(obj({}, { 'x-kubernetes-validations': [{ rule: 'self.a > 0', msg: 'x' }] })),
    ).toEqual(['openAPIV3Schema: x-kubernetes-validations[0].msg is not a field']);
  });

  it('under allOf/anyOf/oneOf/not only value validations: no type, description, default or nullable', () => {
    expect(
      structuralErrors(
        obj({ a: { type: 'string', anyOf: [{ pattern: '^a' }, { type: 'string', pattern: '^b' }] } }),
      ),
    ).toEqual(['openAPIV3Schema.properties.a.anyOf[1]: type is not allowed under allOf/anyOf/oneOf/not']);
    expect(structuralErrors(obj({ a: { type: 'string', not: { description: 'x', enum: ['b'] } } }))).toEqual([
      'openAPIV3Schema.properties.a.not: description is not allowed under allOf/anyOf/oneOf/not',
    ]);
  });
});
