import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { activeTeamId, actorOf, type Principal } from "../../auth/principal.js";
import { allows, authorize, requirePrincipal } from "../../auth/policy.js";
import type { AdapterRecord } from "../../catalog/adapters.js";
import type { PoolEvent } from "../../pool/events.js";
import type { Context } from "../context.js";
import { parseArgs } from "./validate.js";

const uuid = z.string().uuid();


/** The adapter if the caller may see it; NOT_FOUND otherwise (no existence leak). */
async function visibleAdapter(ctx: Context, id: string): Promise<{ principal: Principal; adapter: AdapterRecord }> {
  const principal = requirePrincipal(ctx.principal);
  const adapter = uuid.safeParse(id).success ? await ctx.services.adapters.get(id) : null;
  if (!adapter || !(adapter.visibility === "PUBLIC" || allows(principal, "adapter.read", adapter.team.id))) {
    throw new QuiverError("NOT_FOUND", "No such adapter.");
  }
  return { principal, adapter };
}

async function writable(ctx: Context, id: string, action: "adapter.write" | "adapter.delete") {
  const v = await visibleAdapter(ctx, id);
  if (!allows(v.principal, "adapter.read", v.adapter.team.id)) throw new QuiverError("FORBIDDEN", "Only the adapter's team may change it.");
  authorize(v.principal, action, v.adapter.team.id);
  return v;
}

/** The adapter after a change; NOT_FOUND if a concurrent request deleted it meanwhile. */
async function reread(ctx: Context, id: string): Promise<AdapterRecord> {
  const a = await ctx.services.adapters.get(id);
  if (!a) throw new QuiverError("NOT_FOUND", "No such adapter (it was deleted).");
  return a;
}

export const poolResolvers = {
  Adapter: {
    samples: (a: AdapterRecord, _: unknown, ctx: Context) => ctx.services.pool.samples(a.id),
    versions: async (a: AdapterRecord, _: unknown, ctx: Context) =>
      (await ctx.services.pool.versions(a.id)).map((v) => ({ ...v, byteSize: Number(v.byteSize) })),
    neighbours: async (a: AdapterRecord, args: { k: number }, ctx: Context) => {
      const p = requirePrincipal(ctx.principal);
      const { k } = parseArgs(z.object({ k: z.number().int().min(1).max(50) }), args);
      const encoder = await ctx.services.embeddings.activeEncoder();
      const own = encoder && (await ctx.services.embeddings.getEmbedding(a.id, encoder.id));
      if (!encoder || !own) return [];
      // Searched from the viewer's team: its own adapters and every team's PUBLIC ones.
      const teamId = allows(p, "adapter.read", a.team.id) ? a.team.id : activeTeamId(p, ctx.requestedTeamId);
      if (!teamId) return [];
      const hits = await ctx.services.embeddings.search(encoder.id, own.vector, k, { teamId, baseModelId: a.baseModel.id, exclude: [a.id] });
      const records = await ctx.services.adapters.getMany(hits.map((h) => h.adapterId));
      return hits.flatMap((h) => {
        const adapter = records.find((r) => r.id === h.adapterId);
        return adapter ? [{ adapter, score: h.score, weight: null }] : [];
      });
    },
  },
  PoolEvent: {
    adapter: async (e: PoolEvent, _: unknown, ctx: Context) => {
      if (e.kind === "REMOVED") return null;
      const a = await ctx.services.adapters.get(e.adapterId);
      if (!a) return null;
      return a.visibility === "PUBLIC" || allows(ctx.principal, "adapter.read", a.team.id) ? a : null;
    },
  },
  Mutation: {
    updateAdapter: async (_: unknown, args: unknown, ctx: Context) => {
      const { id, changes } = parseArgs(
        z.object({ id: z.string(), changes: z.object({ description: z.string().max(2000).nullish(), visibility: z.enum(["PRIVATE", "PUBLIC"]).nullish() }) }),
        args,
      );
      const { principal, adapter } = await writable(ctx, id, "adapter.write");
      await ctx.services.pool.update(adapter, { ...(changes.description != null ? { description: changes.description } : {}), ...(changes.visibility ? { visibility: changes.visibility } : {}) }, actorOf(principal));
      return reread(ctx, id);
    },
    setAdapterSamples: async (_: unknown, args: unknown, ctx: Context) => {
      const { id, samples } = parseArgs(z.object({ id: z.string(), samples: z.array(z.string()) }), args);
      const { principal, adapter } = await writable(ctx, id, "adapter.write");
      await ctx.services.pool.setSamples(adapter, samples, actorOf(principal));
      return reread(ctx, id);
    },
    disableAdapter: async (_: unknown, args: { id: string }, ctx: Context) => {
      const { principal, adapter } = await writable(ctx, args.id, "adapter.write");
      await ctx.services.pool.setEnabled(adapter, false, actorOf(principal));
      return reread(ctx, args.id);
    },
    enableAdapter: async (_: unknown, args: { id: string }, ctx: Context) => {
      const { principal, adapter } = await writable(ctx, args.id, "adapter.write");
      await ctx.services.pool.setEnabled(adapter, true, actorOf(principal));
      return reread(ctx, args.id);
    },
    deleteAdapter: async (_: unknown, args: { id: string }, ctx: Context) => {
      const { principal, adapter } = await writable(ctx, args.id, "adapter.delete");
      await ctx.services.pool.delete(adapter, actorOf(principal));
      return true;
    },
  },
  Subscription: {
    poolEvents: {
      subscribe: (_: unknown, args: { teamId?: string | null }, ctx: Context) => {
        const principal = requirePrincipal(ctx.principal);
        const teamId = args.teamId ?? activeTeamId(principal, ctx.requestedTeamId);
        if (!teamId || !uuid.safeParse(teamId).success) throw new QuiverError("NOT_FOUND", "No such team.");
        authorize(principal, "adapter.read", teamId);
        return ctx.services.poolEvents.subscribe(teamId);
      },
      resolve: (e: PoolEvent) => e,
    },
  },
};
