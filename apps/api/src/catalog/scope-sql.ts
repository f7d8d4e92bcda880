// The gate's two visibility rules (auth/policy.ts) as query filters, written once for every
// catalog read that takes a Viewer or a TeamScope:
//   visible: the adapter's team is one the viewer reads, or it is PUBLIC;
//   pool:    ACTIVE, and the team's own or PUBLIC and added to the team's pool.
import { Prisma } from "./generated/client.js";
import type { PoolOwner, Viewer } from "../auth/policy.js";

/** Adapters a viewer may see, as a Prisma filter. */
export function visibleWhere(viewer: Viewer): Prisma.AdapterWhereInput {
  return { OR: [{ teamId: { in: [...viewer.readableTeamIds] } }, { visibility: "PUBLIC" }] };
}

/** A team's retrieval pool, as a Prisma filter. */
export function poolWhere(owner: PoolOwner): Prisma.AdapterWhereInput {
  return {
    status: "ACTIVE",
    OR: [{ teamId: owner.teamId }, { visibility: "PUBLIC", addedTo: { some: { teamId: owner.teamId } } }],
  };
}

/** A team's retrieval pool, as a SQL condition on the adapter row aliased `a`. */
export function poolSql(owner: PoolOwner): Prisma.Sql {
  return Prisma.sql`a.status = 'ACTIVE' AND (a."teamId" = ${owner.teamId}::uuid OR (a.visibility = 'PUBLIC' AND EXISTS (
    SELECT 1 FROM "TeamPoolAdapter" tp WHERE tp."teamId" = ${owner.teamId}::uuid AND tp."adapterId" = a.id)))`;
}
