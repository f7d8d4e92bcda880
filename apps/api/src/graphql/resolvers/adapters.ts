import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { activeTeamId } from "../../auth/principal.js";
import { allows, authorize, requirePrincipal } from "../../auth/policy.js";
import type { AdapterRecord } from "../../catalog/adapters.js";
import type { Context } from "../context.js";
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

export const adapterResolvers = {
  Query: {
    adapters: async (_: unknown, args: unknown, ctx: Context) => {
      const principal = requirePrincipal(ctx.principal);
      const { first, after, search, includePublic, orderBy, teamId: requested } = parseArgs(listArgs, args);
      const teamId = requested ?? activeTeamId(principal, ctx.requestedTeamId);
      if (!teamId) throw new QuiverError("NOT_FOUND", "You belong to no team yet.");
      if (!uuid.safeParse(teamId).success) throw new QuiverError("NOT_FOUND", "No such team.");
      authorize(principal, "adapter.read", teamId);
      const page = await ctx.services.adapters.list({
        teamId,
        includePublic: includePublic ?? false,
        order: orders[orderBy],
        first,
        ...(after ? { after } : {}),
        ...(search ? { search } : {}),
      });
      return {
        edges: page.nodes.map((node, i) => ({ node, cursor: page.cursors[i] })),
        pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.cursors.at(-1) ?? null },
        totalCount: page.totalCount,
      };
    },
    adapter: async (_: unknown, args: { id: string }, ctx: Context) => {
      const principal = requirePrincipal(ctx.principal);
      if (!uuid.safeParse(args.id).success) return null;
      const adapter = await ctx.services.adapters.get(args.id);
      if (!adapter) return null;
      const visible = adapter.visibility === "PUBLIC" || allows(principal, "adapter.read", adapter.team.id);
      return visible ? adapter : null;
    },
  },
  Adapter: {
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
