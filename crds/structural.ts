/**
 * The rules the Kubernetes API server checks on a CRD's openAPIV3Schema (apiextensions.k8s.io/v1,
 * "structural schema"): a schema that breaks one is refused when the CRD is applied. Checked here
 * at generation, so a schema change that the API server would refuse fails the unit tests rather
 * than a cluster suite.
 * https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
 */

type Node = Record<string, unknown>;

/** The fields of JSONSchemaProps (the API server decodes strictly: any other key is an error). */
const KNOWN = new Set([
  'type',
  'format',
  'title',
  'description',
  'default',
  'example',
  'externalDocs',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const JUNCTORS = ['allOf', 'oneOf', 'anyOf', 'not'] as const;
/** What a schema under allOf/oneOf/anyOf/not may not say (only value validations belong there). */
const NOT_IN_JUNCTORS = ['type', 'additionalProperties', 'description', 'default', 'nullable', 'title'];
const VALIDATION_FIELDS = new Set([
  'rule',
  'message',
  'messageExpression',
  'reason',
  'fieldPath',
  'optionalOldSelf',
]);

const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Every rule `schema` breaks, each as `<path>: <what>`; empty when the API server would accept it. */
export function structuralErrors(schema: unknown, path = 'openAPIV3Schema'): string[] {
  const errors: string[] = [];
  walk(schema, path, false, errors);
  return errors;
}

function walk(node: unknown, path: string, inJunctor: boolean, errors: string[]): void {
  const fail = (what: string) => errors.push(`${path}: ${what}`);
  if (!isNode(node)) {
    fail('a schema must be an object');
    return;
  }
  for (const key of Object.keys(node))
    if (!KNOWN.has(key)) fail(`${key} is not a field of a Kubernetes schema`);

  const type = node.type;
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  const preserve = node['x-kubernetes-preserve-unknown-fields'];
  if (inJunctor) {
    for (const key of NOT_IN_JUNCTORS)
      if (key in node) fail(`${key} is not allowed under allOf/anyOf/oneOf/not`);
    for (const key of Object.keys(node))
      if (key.startsWith('x-kubernetes-')) fail(`${key} is not allowed under a junctor`);
  } else if (type === undefined) {
    if (!intOrString && preserve !== true)
      fail('type must be set (or x-kubernetes-int-or-string / preserve-unknown-fields)');
  }
  if (type !== undefined && (typeof type !== 'string' || !TYPES.has(type)))
    fail(`type must be one of ${[...TYPES]}`);
  if (intOrString && type !== undefined) fail('x-kubernetes-int-or-string: true goes without a type');
  if (preserve !== undefined && preserve !== true)
    fail('x-kubernetes-preserve-unknown-fields must be true when set');

  for (const key of ['exclusiveMinimum', 'exclusiveMaximum'] as const) {
    if (key in node && typeof node[key] !== 'boolean')
      fail(`${key} must be a boolean (OpenAPI v3.0), not a bound`);
  }
  if (node.uniqueItems === true) fail('uniqueItems: true is not allowed (use x-kubernetes-list-type: set)');
  if ('properties' in node && 'additionalProperties' in node) {
    fail('properties and additionalProperties are mutually exclusive');
  }
  if (node.additionalProperties === false) fail('additionalProperties: false is not allowed');
  if (('properties' in node || 'additionalProperties' in node) && type !== undefined && type !== 'object') {
    fail('properties/additionalProperties need type: object');
  }
  if (type === 'array' && !('items' in node)) fail('type: array needs items');
  if ('items' in node && type !== undefined && type !== 'array') fail('items needs type: array');
  if (node.nullable !== undefined && typeof node.nullable !== 'boolean') fail('nullable must be a boolean');
  if (node.required !== undefined) {
    if (!Array.isArray(node.required) || node.required.some((r) => typeof r !== 'string')) {
      fail('required must be a list of property names');
    }
  }

  const listType = node['x-kubernetes-list-type'];
  if (listType !== undefined) {
    if (type !== 'array') fail('x-kubernetes-list-type needs type: array');
    if (!['atomic', 'set', 'map'].includes(String(listType)))
      fail('x-kubernetes-list-type is atomic, set or map');
  }
  if ('x-kubernetes-list-map-keys' in node && listType !== 'map') {
    fail('x-kubernetes-list-map-keys needs x-kubernetes-list-type: map');
  }
  if (listType === 'map') {
    const keys = node['x-kubernetes-list-map-keys'];
    const items = isNode(node.items) ? node.items : {};
    const props = isNode(items.properties) ? items.properties : {};
    if (!Array.isArray(keys) || keys.length === 0)
      fail('x-kubernetes-list-type: map needs x-kubernetes-list-map-keys');
    else if (items.type !== 'object') fail('x-kubernetes-list-type: map needs items of type object');
    else
      for (const k of keys)
        if (!(String(k) in props)) fail(`list map key ${k} is not a property of the items`);
  }
  const mapType = node['x-kubernetes-map-type'];
  if (mapType !== undefined) {
    if (type !== 'object') fail('x-kubernetes-map-type needs type: object');
    if (!['granular', 'atomic'].includes(String(mapType)))
      fail('x-kubernetes-map-type is granular or atomic');
  }
  if (node['x-kubernetes-embedded-resource'] === true && type !== 'object') {
    fail('x-kubernetes-embedded-resource needs type: object');
  }
  const rules = node['x-kubernetes-validations'];
  if (rules !== undefined) {
    if (!Array.isArray(rules)) fail('x-kubernetes-validations must be a list');
    else
      rules.forEach((r, i) => {
        if (!isNode(r) || typeof r.rule !== 'string' || r.rule === '')
          fail(`x-kubernetes-validations[${i}] needs a rule`);
        else
          for (const k of Object.keys(r))
            if (!VALIDATION_FIELDS.has(k)) fail(`x-kubernetes-validations[${i}].${k} is not a field`);
      });
  }

  if (isNode(node.properties)) {
    for (const [name, child] of Object.entries(node.properties))
      walk(child, `${path}.properties.${name}`, inJunctor, errors);
  } else if ('properties' in node) fail('properties must map names to schemas');
  if ('items' in node) walk(node.items, `${path}.items`, inJunctor, errors);
  if (isNode(node.additionalProperties))
    walk(node.additionalProperties, `${path}.additionalProperties`, inJunctor, errors);
  for (const junctor of JUNCTORS) {
    const value = node[junctor];
    if (value === undefined) continue;
    const list = junctor === 'not' ? [value] : Array.isArray(value) ? value : undefined;
    if (!list) fail(`${junctor} must be a list of schemas`);
    else {
      list.forEach((s, i) => {
        walk(s, `${path}.${junctor}${junctor === 'not' ? '' : `[${i}]`}`, true, errors);
      });
    }
  }
}
