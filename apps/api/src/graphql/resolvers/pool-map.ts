import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { activeTeamId } from "../../auth/principal.js";
import { authorize, requirePrincipal } from "../../auth/policy.js";
import { clusterOrder, project2d, similarityMatrix } from "../../pool/pool-map.js";
import type { Context } from "../context.js";
import { parseArgs } from "./validate.js";

const MAX_ADAPTERS = 500;

export const poolMapResolvers = {
  Query: {
    poolMap: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requirePrincipal(ctx.principal);
      const a = parseArgs(z.object({ teamId: z.string().uuid().nullish(), includePublic: z.boolean().nullish() }), args);
      const teamId = a.teamId ?? activeTeamId(p, ctx.requestedTeamId);
      if (!teamId) throw new QuiverError("NOT_FOUND", "You belong to no team yet.");
      authorize(p, "adapter.read", teamId);
      const rows = await ctx.services.poolMap.embeddings(teamId, a.includePublic ?? false, MAX_ADAPTERS);
      const sim = similarityMatrix(rows.map((r) => r.vector));
      const order = clusterOrder(sim);
      const ordered = order.map((i) => rows[i]!);
      const adapters = await ctx.services.adapters.getMany(ordered.map((r) => r.adapterId));
      const points = project2d(ordered.map((r) => r.vector));
      return {
        encoderId: ctx.services.embedder?.encoderId ?? null,
        adapters,
        similarity: order.map((i) => order.map((j) => Math.round(sim[i]![j]! * 1e4) / 1e4)),
        points: adapters.map((adapter, k) => ({ adapter, x: points[k]!.x, y: points[k]!.y })),
      };
    },
  },
};
