// The audit log: administrative actions, written in the same transaction as the change.
import type { Prisma } from "./generated/client.js";

/** Who acted: a user or an API key. */
export type Actor = { userId?: string; apiKeyId?: string };

export interface AuditEntry {
  teamId: string | null;
  actor: Actor;
  action: string;
  targetType: string;
  targetId?: string;
  metadata?: Prisma.InputJsonValue;
}

export async function audit(tx: Prisma.TransactionClient, entry: AuditEntry): Promise<void> {
  await tx.auditLogEntry.create({
    data: {
      teamId: entry.teamId,
      actorUserId: entry.actor.userId ?? null,
      actorKeyId: entry.actor.apiKeyId ?? null,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId ?? null,
      metadata: entry.metadata ?? {},
    },
  });
}
