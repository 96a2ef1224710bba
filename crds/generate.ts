import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  PIPELINE_GROUP,
  PIPELINE_KIND,
  PIPELINE_PLURAL,
  PIPELINE_VERSION,
} from '../operator/api/v1alpha1/group.ts';
import { pipelineSpec } from '../operator/api/v1alpha1/spec.ts';
import { pipelineStatus } from '../operator/api/v1alpha1/status.ts';
import { structuralErrors } from './structural.ts';

/**
 * Generates the PaymentPipeline CRD (do not edit the output by hand) from the zod schemas in operator/api/v1alpha1/ (spec.ts, status.ts).
 * `node crds/generate.ts` rewrites the committed files; `node crds/generate.ts --check` fails when
 * they are stale (the unit test does the same).
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The generated files and their content: the plain CRD, and the chart's template that installs/upgrades it. */
export function renderedFiles(): { path: string; text: string }[] {
  const crd = renderCrd();
  return [
    { path: join(ROOT, 'crds', 'generated', `${PIPELINE_PLURAL}.${PIPELINE_GROUP}.json`), text: crd },
    {
      path: join(ROOT, 'helm', 'templates', 'crds.yaml'),
      text: `{{- if .Values.crds.install }}\n${crd}{{- end }}\n`,
    },
  ];
}

type JsonSchema = { [key: string]: unknown };

/**
 * JSON Schema (draft 2020-12, as zod emits it) → Kubernetes structural schema: no $schema, no
 * propertyNames, and `anyOf [X, null]` or `type: [X, null]` becomes `X` + `nullable: true`.
 */
export function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (node === null || typeof node !== 'object') return node;
  const src = node as JsonSchema;
  const anyOf = src.anyOf;
  if (Array.isArray(anyOf)) {
    const nonNull = anyOf.filter((s) => (s as JsonSchema).type !== 'null');
    if (nonNull.length === 1 && anyOf.length === 2) {
      const { anyOf: _drop, ...rest } = src;
      return { ...(toStructural({ ...rest, ...(nonNull[0] as JsonSchema) }) as JsonSchema), nullable: true };
    }
    throw new Error(`anyOf is not structural: ${JSON.stringify(anyOf)}`);
  }
  if (Array.isArray(src.type)) {
    const types = src.type.filter((t) => t !== 'null');
    if (types.length !== 1 || src.type.length !== 2) throw new Error(`type is not structural: ${src.type}`);
    return { ...(toStructural({ ...src, type: types[0] }) as JsonSchema), nullable: true };
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(src)) {
    if (key === '$schema' || key === 'propertyNames') continue;
    out[key] = key === 'x-kubernetes-validations' || key === 'default' ? value : toStructural(value);
  }
  return out;
}

function schemaOf(schema: z.ZodType): JsonSchema {
  return toStructural(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw' })) as JsonSchema;
}

export function buildCrd(): JsonSchema {
  const ready = '.status.conditions[?(@.type=="Ready")].status';
  const openAPIV3Schema = {
    type: 'object',
    description: 'A MySQL binlog → Kafka → Redis payment pipeline with its API.',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: schemaOf(pipelineSpec),
      status: schemaOf(pipelineStatus),
    },
  };
  // The API server refuses a CRD whose schema is not structural: refuse to generate one.
  const errors = structuralErrors(openAPIV3Schema);
  if (errors.length > 0)
    throw new Error(`the PaymentPipeline schema is not structural:\n${errors.join('\n')}`);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PIPELINE_PLURAL}.${PIPELINE_GROUP}`,
      // Helm keeps the CRD (and so every PaymentPipeline) when the chart is uninstalled.
      annotations: { 'helm.sh/resource-policy': 'keep' },
      labels: { 'app.kubernetes.io/part-of': 'payment-pipeline' },
    },
    spec: {
      group: PIPELINE_GROUP,
      scope: 'Namespaced',
      names: {
        kind: PIPELINE_KIND,
        listKind: `${PIPELINE_KIND}List`,
        plural: PIPELINE_PLURAL,
        singular: PIPELINE_KIND.toLowerCase(),
        shortNames: ['ppl'],
        categories: ['payments'],
      },
      versions: [
        {
          name: PIPELINE_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: ready },
            { name: 'Position', type: 'string', jsonPath: '.status.producer.position.gtid' },
            { name: 'Lag', type: 'integer', jsonPath: '.status.consumer.lag' },
            { name: 'Replicas', type: 'integer', jsonPath: '.status.consumer.currentReplicas' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}

/** JSON (which is also YAML): kubectl, helm and the API server read it as is; no YAML library needed. */
export function renderCrd(): string {
  return `${JSON.stringify(buildCrd(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  for (const { path: file, text } of renderedFiles()) {
    if (check) {
      if (readFileSync(file, 'utf8') !== text) {
        process.stderr.write(`${file} is stale: run node crds/generate.ts\n`);
        process.exitCode = 1;
      }
    } else {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      process.stdout.write(`wrote ${file}\n`);
    }
  }
}
