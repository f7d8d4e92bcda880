// The embeddings behind the pool map: every ACTIVE adapter a team can see, with its vector
// under the active encoder (one query).
import pgvector from "pgvector";
import { Prisma, type PrismaClient } from "./generated/client.js";
import type { TeamScope } from "../auth/policy.js";
import { poolSql } from "./scope-sql.js";

export interface MappedAdapter {
  adapterId: string;
  name: string;
  teamId: string;
  /** (dimension), unit length */
  vector: Float32Array;
}

export class PoolMapStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** The team's own ACTIVE adapters, and with `includePublic` the PUBLIC ones it added. */
  async embeddings(scope: TeamScope, includePublic: boolean, limit: number): Promise<MappedAdapter[]> {
    const teamId = scope.teamId;
    const rows = await this.prisma.$queryRaw<{ adapterId: string; name: string; teamId: string; embedding: string }[]>`
      SELECT a.id AS "adapterId", a.name, a."teamId", e.embedding::text AS embedding
      FROM "AdapterEmbedding" e
      JOIN "Adapter" a ON a.id = e."adapterId"
      JOIN "Encoder" enc ON enc.id = e."encoderId" AND enc.active
      WHERE ${includePublic ? poolSql(scope) : Prisma.sql`a.status = 'ACTIVE' AND a."teamId" = ${teamId}::uuid`}
      ORDER BY a.name, a.id
      LIMIT ${limit}`;
    return rows.map((r) => ({ adapterId: r.adapterId, name: r.name, teamId: r.teamId, vector: Float32Array.from(pgvector.fromSql(r.embedding) as number[]) }));
  }
}
