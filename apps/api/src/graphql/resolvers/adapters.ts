import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { actorOf } from "../../auth/principal.js";
import { defaultTeamId } from "../../auth/policy.js";
import type { AdapterPage, AdapterRecord } from "../../catalog/adapters.js";
import { scope, viewer, type Context } from "../context.js";
import { parseArgs } from "./validate.js";

const uuid = z.string().uuid();

const listArgs = z.object({
  first: z.number().int().min(1).max(100),
  after: z.string().max(512).nullish(),
  search: z.string().max(200).nullish(),
  teamId: uuid.nullish(),
  includePublic: z.boolean().nullish(),
  orderBy: z.enum(["NAME_ASC", "NAME_DESC", "UPDATED_DESC", "UPDATED_ASC", "CREATED_DESC", "CREATED_ASC"]).default("NAME_ASC"),
});

const orders = {
  NAME_ASC: { field: "name", direction: "asc" },
  NAME_DESC: { field: "name", direction: "desc" },
  UPDATED_DESC: { field: "updatedAt", direction: "desc" },
  UPDATED_ASC: { field: "updatedAt", direction: "asc" },
  CREATED_DESC: { field: "createdAt", direction: "desc" },
  CREATED_ASC: { field: "createdAt", direction: "asc" },
} as const;

function connection(page: AdapterPage) {
  return {
    edges: page.nodes.map((node, i) => ({ node, cursor: page.cursors[i] })),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.cursors.at(-1) ?? null },
    totalCount: page.totalCount,
  };
}

export const adapterResolvers = {
  Query: {
    adapters: async (_: unknown, args: unknown, ctx: Context) => {
      const { first, after, search, includePublic, orderBy, teamId } = parseArgs(listArgs, args);
      const s = scope(ctx, "adapter.read", teamId);
      return connection(
        await ctx.services.adapters.list(s, {
          includePublic: includePublic ?? false,
          order: orders[orderBy],
          first,
          ...(after ? { after } : {}),
          ...(search ? { search } : {}),
        }),
      );
    },
    publicAdapters: async (_: unknown, args: unknown, ctx: Context) => {
      const { first, after, search, orderBy } = parseArgs(listArgs.omit({ teamId: true, includePublic: true }), args);
      return connection(
        await ctx.services.adapters.catalogue(viewer(ctx), { order: orders[orderBy], first, ...(after ? { after } : {}), ...(search ? { search } : {}) }),
      );
    },
    adapter: async (_: unknown, args: { id: string }, ctx: Context) => {
      const v = viewer(ctx);
      return uuid.safeParse(args.id).success ? ctx.services.adapters.get(v, args.id) : null;
    },
  },
  Mutation: {
    addPublicAdapter: async (_: unknown, args: unknown, ctx: Context) => {
      const { adapterId, teamId } = parseArgs(z.object({ adapterId: uuid, teamId: uuid.nullish() }), args);
      const s = scope(ctx, "pool.manage", teamId);
      if (!(await ctx.services.adapters.addToPool(s, adapterId, actorOf(s.principal)))) {
        throw new QuiverError("NOT_FOUND", "No such public adapter of another team.");
      }
      return ctx.services.adapters.get(s, adapterId);
    },
    removePublicAdapter: async (_: unknown, args: unknown, ctx: Context) => {
      const { adapterId, teamId } = parseArgs(z.object({ adapterId: uuid, teamId: uuid.nullish() }), args);
      const s = scope(ctx, "pool.manage", teamId);
      return ctx.services.adapters.removeFromPool(s, adapterId, actorOf(s.principal));
    },
  },
  Adapter: {
    // Whether the adapter is in the retrieval pool of the team the request acts in.
    inPool: async (a: AdapterRecord, _: unknown, ctx: Context) => {
      if (ctx.principal && !ctx.requestedTeamId && !defaultTeamId(ctx.principal)) return false;
      return (await ctx.services.adapters.inPool(scope(ctx, "adapter.read"), [a.id])).has(a.id);
    },
    version: (a: AdapterRecord) => a.currentVersion?.version ?? null,
    rank: (a: AdapterRecord) => a.currentVersion?.rank ?? null,
    alpha: (a: AdapterRecord) => a.currentVersion?.alpha ?? null,
    scaling: (a: AdapterRecord) => a.currentVersion?.scaling ?? null,
    targetModules: (a: AdapterRecord) => a.currentVersion?.targetModules ?? [],
    dtype: (a: AdapterRecord) => a.currentVersion?.dtype ?? null,
    byteSize: (a: AdapterRecord) => (a.currentVersion ? Number(a.currentVersion.byteSize) : null),
    contentHash: (a: AdapterRecord) => a.currentVersion?.contentHash ?? null,
  },
};
