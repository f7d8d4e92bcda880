import { z } from "zod";
import { clusterOrder, project2d, similarityMatrix } from "../../pool/pool-map.js";
import { scope, type Context } from "../context.js";
import { parseArgs } from "./validate.js";

const MAX_ADAPTERS = 500;

export const poolMapResolvers = {
  Query: {
    poolMap: async (_: unknown, args: unknown, ctx: Context) => {
      const a = parseArgs(z.object({ teamId: z.string().uuid().nullish(), includePublic: z.boolean().nullish() }), args);
      const s = scope(ctx, "adapter.read", a.teamId);
      const rows = await ctx.services.poolMap.embeddings(s, a.includePublic ?? false, MAX_ADAPTERS);
      const sim = similarityMatrix(rows.map((r) => r.vector));
      const order = clusterOrder(sim);
      const ordered = order.map((i) => rows[i]!);
      const adapters = await ctx.services.adapters.getMany(
        s,
        ordered.map((r) => r.adapterId),
      );
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
