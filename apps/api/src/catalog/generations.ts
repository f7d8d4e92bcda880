// Generation records and metered usage: every request is recorded when it is accepted and
// completed when it ends; quota checks read them.
import type { Viewer } from "../auth/policy.js";
import type { Prisma, PrismaClient } from "./generated/client.js";
import type { CompositionStrategy, GenerationStatus } from "./generated/enums.js";

export interface NewGeneration {
  teamId: string;
  userId: string | null;
  apiKeyId: string | null;
  strategy: CompositionStrategy;
  k: number;
  adapters: { adapterId: string; adapterName: string; versionId: string | null; score: number | null; weight: number }[];
}

export interface FinishedGeneration {
  status: Extract<GenerationStatus, "DONE" | "CANCELLED" | "FAILED">;
  finishReason: string;
  errorCode: string | null;
  tokensIn: number;
  tokensOut: number;
  queueMs: number;
  ttftMs: number | null;
  totalMs: number;
}

/** Writes a generation's record (QUEUED); quota admission (quotas.ts) calls it inside its transaction. */
export async function insertGeneration(tx: Prisma.TransactionClient, g: NewGeneration, createdAt?: Date): Promise<string> {
  const row = await tx.generation.create({
    data: {
      teamId: g.teamId, userId: g.userId, apiKeyId: g.apiKeyId, strategy: g.strategy, k: g.k, status: "QUEUED",
      ...(createdAt ? { createdAt } : {}),
      adapters: { create: g.adapters.map((a, position) => ({ ...a, position })) },
    },
    select: { id: true },
  });
  return row.id;
}

export class GenerationStore {
  constructor(private readonly prisma: PrismaClient) {}

  create(g: NewGeneration): Promise<string> {
    return insertGeneration(this.prisma, g);
  }

  async setStatus(id: string, status: GenerationStatus): Promise<void> {
    await this.prisma.generation.update({ where: { id }, data: { status } });
  }

  /** Completes the record and meters the usage, together; its quota reservation (quotas.ts) goes with them. */
  async finish(id: string, f: FinishedGeneration, who: { teamId: string; userId: string | null; apiKeyId: string | null }): Promise<void> {
    await this.prisma.$transaction([
      this.prisma.quotaReservation.deleteMany({ where: { generationId: id } }),
      this.prisma.generation.update({
        where: { id },
        data: { status: f.status, finishReason: f.finishReason, errorCode: f.errorCode, tokensIn: f.tokensIn, tokensOut: f.tokensOut, queueMs: f.queueMs, ttftMs: f.ttftMs, totalMs: f.totalMs, finishedAt: new Date() },
      }),
      this.prisma.usageEvent.create({ data: { teamId: who.teamId, userId: who.userId, apiKeyId: who.apiKeyId, kind: "GENERATION", generationId: id, tokensIn: f.tokensIn, tokensOut: f.tokensOut } }),
    ]);
  }

  /** A generation of a team the viewer reads; null otherwise, as if absent. */
  get(viewer: Viewer, id: string) {
    return this.prisma.generation.findFirst({
      where: { id, teamId: { in: [...viewer.readableTeamIds] } },
      select: {
        id: true, teamId: true, userId: true, apiKeyId: true, status: true, strategy: true, k: true, finishReason: true, errorCode: true, tokensIn: true, tokensOut: true,
        queueMs: true, ttftMs: true, totalMs: true, createdAt: true, finishedAt: true,
        adapters: { orderBy: { position: "asc" }, select: { adapterId: true, adapterName: true, score: true, weight: true } },
      },
    });
  }

  /** Requests the team made in the last `ms` milliseconds. */
  recentRequests(teamId: string, ms: number): Promise<number> {
    return this.prisma.generation.count({ where: { teamId, createdAt: { gte: new Date(Date.now() - ms) } } });
  }
}
