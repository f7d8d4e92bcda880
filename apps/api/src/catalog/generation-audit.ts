// Reads for auditing what was billed (`quiver bench soak`): each generation's record and its
// usage row, and how many records end in each status. Read-only.
import type { PrismaClient } from "./generated/client.js";

export interface BilledGeneration {
  status: string;
  finishReason: string | null;
  /** The record's tokensOut. */
  recordTokens: number;
  /** Its usage row's tokensOut (undefined: no row). */
  usageTokens: number | undefined;
}

/** The record and usage row of each of `ids` that has a record. */
export async function billedGenerations(prisma: PrismaClient, ids: readonly string[]): Promise<Map<string, BilledGeneration>> {
  const out = new Map<string, BilledGeneration>();
  for (let at = 0; at < ids.length; at += 5000) {
    const chunk = ids.slice(at, at + 5000);
    const [records, rows] = await Promise.all([
      prisma.generation.findMany({ where: { id: { in: chunk } }, select: { id: true, status: true, finishReason: true, tokensOut: true } }),
      prisma.usageEvent.findMany({ where: { generationId: { in: chunk } }, select: { generationId: true, tokensOut: true } }),
    ]);
    const usage = new Map(rows.map((r) => [r.generationId!, r.tokensOut]));
    for (const r of records) out.set(r.id, { status: r.status, finishReason: r.finishReason, recordTokens: r.tokensOut, usageTokens: usage.get(r.id) });
  }
  return out;
}

/** How many generation records end in each status. */
export async function generationStatusCounts(prisma: PrismaClient): Promise<Record<string, number>> {
  const groups = await prisma.generation.groupBy({ by: ["status"], _count: { _all: true } });
  return Object.fromEntries(groups.map((g) => [g.status, g._count._all]));
}
