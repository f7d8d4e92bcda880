import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { actorOf } from "../../auth/principal.js";
import { requireAction, roleIn, scopeFor, scopeForAdapter, type Action, type TeamScope } from "../../auth/policy.js";
import type { AdapterRecord } from "../../catalog/adapters.js";
import type { PoolEvent } from "../../pool/events.js";
import { accessCheck, guardedStream, scope, viewer, type Context } from "../context.js";
import { parseArgs } from "./validate.js";

const uuid = z.string().uuid();

/** The adapter and the scope to change it in (the gate: NOT_FOUND unseen, FORBIDDEN not its team's). */
async function writable(ctx: Context, id: string, action: Action): Promise<{ scope: TeamScope; adapter: AdapterRecord }> {
  const v = viewer(ctx);
  const adapter = uuid.safeParse(id).success ? await ctx.services.adapters.get(v, id) : null;
  if (!adapter) throw new QuiverError("NOT_FOUND", "No such adapter.");
  return { scope: scopeForAdapter(v, adapter, action), adapter };
}

/** The adapter after a change; NOT_FOUND if a concurrent request deleted it meanwhile. */
async function reread(ctx: Context, s: TeamScope, id: string): Promise<AdapterRecord> {
  const a = await ctx.services.adapters.get(s, id);
  if (!a) throw new QuiverError("NOT_FOUND", "No such adapter (it was deleted).");
  return a;
}

export const poolResolvers = {
  Adapter: {
    samples: (a: AdapterRecord, _: unknown, ctx: Context) => ctx.services.pool.samples(viewer(ctx), a.id),
    versions: async (a: AdapterRecord, _: unknown, ctx: Context) =>
      (await ctx.services.pool.versions(viewer(ctx), a.id)).map((v) => ({ ...v, byteSize: Number(v.byteSize) })),
    neighbours: async (a: AdapterRecord, args: { k: number }, ctx: Context) => {
      const { k } = parseArgs(z.object({ k: z.number().int().min(1).max(50) }), args);
      const v = viewer(ctx);
      if (!(await ctx.services.adapters.get(v, a.id))) return [];
      // Searched in a pool the caller may use: the adapter's own team's when the caller is in
      // it, else the team the request acts in (never a team named by the adapter alone).
      const s = roleIn(v.principal, a.team.id) !== undefined ? scopeFor(v.principal, a.team.id, "adapter.read") : scope(ctx, "adapter.read");
      const encoder = await ctx.services.embeddings.activeEncoder();
      const own = encoder && (await ctx.services.embeddings.getEmbedding(a.id, encoder.id));
      if (!encoder || !own) return [];
      const hits = await ctx.services.embeddings.search(encoder.id, own.vector, k, { pool: s, baseModelId: a.baseModel.id, exclude: [a.id] });
      const records = await ctx.services.adapters.getMany(
        s,
        hits.map((h) => h.adapterId),
      );
      return hits.flatMap((h) => {
        const adapter = records.find((r) => r.id === h.adapterId);
        return adapter ? [{ adapter, score: h.score, weight: null }] : [];
      });
    },
  },
  PoolEvent: {
    adapter: async (e: PoolEvent, _: unknown, ctx: Context) => {
      if (e.kind === "REMOVED") return null;
      return ctx.services.adapters.get(viewer(ctx), e.adapterId);
    },
  },
  Mutation: {
    updateAdapter: async (_: unknown, args: unknown, ctx: Context) => {
      const { id, changes } = parseArgs(
        z.object({ id: z.string(), changes: z.object({ description: z.string().max(2000).nullish(), visibility: z.enum(["PRIVATE", "PUBLIC"]).nullish() }) }),
        args,
      );
      // Publishing (and unpublishing) needs ADMIN: it decides what other teams may add.
      const changesVisibility = changes.visibility != null;
      const { scope: s, adapter } = await writable(ctx, id, "adapter.write");
      if (changesVisibility && changes.visibility !== adapter.visibility) requireAction(s, "adapter.publish");
      await ctx.services.pool.update(
        adapter,
        { ...(changes.description != null ? { description: changes.description } : {}), ...(changes.visibility ? { visibility: changes.visibility } : {}) },
        actorOf(s.principal),
      );
      return reread(ctx, s, id);
    },
    setAdapterSamples: async (_: unknown, args: unknown, ctx: Context) => {
      const { id, samples } = parseArgs(z.object({ id: z.string(), samples: z.array(z.string()) }), args);
      const { scope: s, adapter } = await writable(ctx, id, "adapter.write");
      await ctx.services.pool.setSamples(adapter, samples, actorOf(s.principal));
      return reread(ctx, s, id);
    },
    disableAdapter: async (_: unknown, args: { id: string }, ctx: Context) => {
      const { scope: s, adapter } = await writable(ctx, args.id, "adapter.write");
      await ctx.services.pool.setEnabled(adapter, false, actorOf(s.principal));
      return reread(ctx, s, args.id);
    },
    enableAdapter: async (_: unknown, args: { id: string }, ctx: Context) => {
      const { scope: s, adapter } = await writable(ctx, args.id, "adapter.write");
      await ctx.services.pool.setEnabled(adapter, true, actorOf(s.principal));
      return reread(ctx, s, args.id);
    },
    deleteAdapter: async (_: unknown, args: { id: string }, ctx: Context) => {
      const { scope: s, adapter } = await writable(ctx, args.id, "adapter.delete");
      await ctx.services.pool.delete(adapter, actorOf(s.principal));
      return true;
    },
  },
  Subscription: {
    poolEvents: {
      subscribe: (_: unknown, args: { teamId?: string | null }, ctx: Context) => {
        const s = scope(ctx, "adapter.read", args.teamId);
        const events = ctx.services.poolEvents.subscribe(s.teamId);
        // Pool events are rare: access is read afresh before each one.
        return guardedStream(
          events,
          accessCheck(ctx, () => scope(ctx, "adapter.read", args.teamId), { everyEvent: true }),
          (e) => e,
        );
      },
      resolve: (e: PoolEvent) => e,
    },
  },
};
