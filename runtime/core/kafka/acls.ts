import {
  AclOperations,
  AclPermissionTypes,
  Admin,
  ResourcePatternTypes,
  ResourceTypes,
} from '@platformatic/kafka';
import { kafkaClientOptions } from './security.ts';
import type { KafkaConnection } from './types.ts';

/** One ALLOW rule: `principal` may do `operations` on the resource (a literal name or a prefix). */
export type AclGrant = {
  principal: string;
  resource: 'topic' | 'group' | 'cluster' | 'transactionalId';
  name: string;
  pattern: 'literal' | 'prefixed';
  operations: (keyof typeof AclOperations)[];
};

const RESOURCE = {
  topic: ResourceTypes.TOPIC,
  group: ResourceTypes.GROUP,
  cluster: ResourceTypes.CLUSTER,
  transactionalId: ResourceTypes.TRANSACTIONAL_ID,
} as const;

/** Creates the ACLs (the broker ignores one that exists already, so this is idempotent). */
export async function grantAcls(conn: KafkaConnection, grants: AclGrant[]): Promise<void> {
  const admin = new Admin({
    clientId: conn.clientId,
    bootstrapBrokers: conn.brokers,
    ...kafkaClientOptions(conn.security),
  });
  try {
    await admin.createAcls({
      creations: grants.flatMap((g) =>
        g.operations.map((op) => ({
          resourceType: RESOURCE[g.resource],
          resourceName: g.name,
          resourcePatternType:
            g.pattern === 'literal' ? ResourcePatternTypes.LITERAL : ResourcePatternTypes.PREFIXED,
          principal: g.principal,
          host: '*',
          operation: AclOperations[op],
          permissionType: AclPermissionTypes.ALLOW,
        })),
      ),
    });
  } finally {
    await admin.close();
  }
}
