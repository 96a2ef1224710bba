import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildCrd, renderedFiles, toStructural } from './generate.ts';

describe('PaymentPipeline CRD generation', () => {
  it('the committed CRD files equal what the schema generates (run node crds/generate.ts)', () => {
    for (const { path, text } of renderedFiles()) {
      expect(readFileSync(path, 'utf8'), path).toBe(text);
    }
  });

  it('emits a structural schema: no $schema, propertyNames, anyOf or type arrays anywhere', () => {
    const json = JSON.stringify(buildCrd());
    expect(json).not.toMatch(/"\$schema"|"propertyNames"|"anyOf"|"oneOf"|"type":\[/);
  });

  it('turns nullable unions into nullable: true and refuses other unions', () => {
    expect(toStructural({ anyOf: [{ type: 'string' }, { type: 'null' }] })).toEqual({
      type: 'string',
      nullable: true,
    });
    expect(toStructural({ type: ['integer', 'null'] })).toEqual({ type: 'integer', nullable: true });
    expect(() => toStructural({ anyOf: [{ type: 'string' }, { type: 'integer' }] })).toThrow(
      /not structural/,
    );
  });

  it('carries defaults, enums and CEL rules from the zod schema', () => {
    const json = JSON.stringify(buildCrd());
    expect(json).toContain('"default":"IfNotPresent"');
    expect(json).toContain('"enum":["standalone","sentinel","cluster"]');
    expect(json).toContain('self.minReplicas <= self.maxReplicas');
    expect(json).toContain('mysql.serverId is immutable');
    expect(json).toContain(`"rule":"self.mode != 'cluster' || !has(self.sentinelMaster)"`);
    expect(json).toContain('redis.sentinelTls and redis.sentinelSecretName are for mode sentinel only');
  });

  it('has the per-component Redis Secret references beside the shared ones', () => {
    const redis = (buildCrd() as unknown as CrdShape).spec.versions[0]?.schema.openAPIV3Schema.properties.spec
      .properties.redis;
    for (const field of ['url', 'secretName', 'consumerSecretName', 'apiSecretName'])
      expect(redis?.properties[field], field).toMatchObject({ type: 'string' });
    expect(redis?.properties.consumerSecretName?.description).toContain('key "url"');
    expect(redis?.required ?? []).not.toContain('consumerSecretName');
  });
});

type SchemaNode = {
  type?: string;
  description?: string;
  required?: string[];
  properties: Record<string, SchemaNode | undefined>;
};
type CrdShape = {
  spec: {
    versions: {
      schema: { openAPIV3Schema: { properties: { spec: { properties: { redis?: SchemaNode } } } } };
    }[];
  };
};
