import type { PipelineSpec } from '../api/v1alpha1/spec.ts';

/**
 * What a PaymentPipeline may ask for beyond its schema, set by whoever installs the operator. The
 * pods a pipeline starts get the Secrets it names: whoever may edit a pipeline chooses the code that
 * reads them (image) and where the credentials are sent (mysql.host). Empty lists allow everything.
 */
export type PipelinePolicy = {
  /** `repo` (any tag or digest of it), `repo:tag` or `repo@digest` (exactly), `prefix/*` (anything under it). */
  images: readonly string[];
  /** `host` (exactly, case-insensitive) or `*.domain` (any name under domain). */
  mysqlHosts: readonly string[];
};

export const OPEN_POLICY: PipelinePolicy = { images: [], mysqlHosts: [] };

export type Refusal = { reason: 'ImageNotAllowed' | 'MysqlHostNotAllowed'; message: string };

/** True when the last path segment of a reference carries a tag, or the reference a digest. */
function pinned(ref: string): boolean {
  return ref.includes('@') || (ref.split('/').pop() ?? '').includes(':');
}

export function imageAllowed(image: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  return allowed.some((entry) => {
    // The separator is part of the prefix: registry.example.com/pay/* never matches registry.example.com/payments.
    if (entry.endsWith('/*')) return image.startsWith(entry.slice(0, -1));
    if (pinned(entry)) return image === entry;
    return image === entry || image.startsWith(`${entry}:`) || image.startsWith(`${entry}@`);
  });
}

export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const h = host.toLowerCase();
  return allowed.some((entry) => {
    const e = entry.toLowerCase();
    return e.startsWith('*.') ? h.endsWith(e.slice(1)) && h.length > e.length - 1 : h === e;
  });
}

/** Why the operator will not run this pipeline, or undefined when the policy allows it. */
export function refusal(spec: PipelineSpec, policy: PipelinePolicy): Refusal | undefined {
  if (!imageAllowed(spec.image, policy.images)) {
    return {
      reason: 'ImageNotAllowed',
      message: `image ${spec.image} is not in the operator's allowed images (ALLOWED_IMAGES: ${policy.images.join(', ')})`,
    };
  }
  if (!hostAllowed(spec.mysql.host, policy.mysqlHosts)) {
    return {
      reason: 'MysqlHostNotAllowed',
      message: `mysql.host ${spec.mysql.host} is not in the operator's allowed MySQL hosts (ALLOWED_MYSQL_HOSTS: ${policy.mysqlHosts.join(', ')})`,
    };
  }
  return undefined;
}
