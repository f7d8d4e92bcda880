import { z } from "zod";
import { QuiverError } from "../../errors.js";
import type { UsageFilter } from "../../catalog/usage.js";
import { scope, viewer, type Context } from "../context.js";
import { parseArgs } from "./validate.js";

const uuid = z.string().uuid();
const DAY_MS = 24 * 3600_000;
const maxRangeDays = { HOUR: 31, DAY: 366 } as const;

const usageArgs = z.object({
  from: z.date().nullish(),
  to: z.date().nullish(),
  teamId: uuid.nullish(),
  groupBy: z.enum(["HOUR", "DAY"]),
  adapterId: uuid.nullish(),
  apiKeyId: uuid.nullish(),
  userId: uuid.nullish(),
  strategy: z.enum(["MIXTURE", "FUSION", "SELECTION", "NONE"]).nullish(),
  top: z.number().int().min(1).max(100),
});

export const usageResolvers = {
  Query: {
    usage: async (_: unknown, args: unknown, ctx: Context) => {
      const a = parseArgs(usageArgs, args);
      const s = scope(ctx, "usage.read", a.teamId);
      const to = a.to ?? new Date();
      const from = a.from ?? new Date(to.getTime() - 7 * DAY_MS);
      if (from >= to) throw new QuiverError("BAD_USER_INPUT", "from must be before to.", { details: { argument: "from" } });
      if (to.getTime() - from.getTime() > maxRangeDays[a.groupBy] * DAY_MS) {
        throw new QuiverError("BAD_USER_INPUT", `A ${a.groupBy.toLowerCase()}ly report covers at most ${maxRangeDays[a.groupBy]} days.`, {
          details: { argument: "to" },
        });
      }
      const filter: UsageFilter = {
        scope: s,
        from,
        to,
        ...(a.adapterId ? { adapterId: a.adapterId } : {}),
        ...(a.apiKeyId ? { apiKeyId: a.apiKeyId } : {}),
        ...(a.userId ? { userId: a.userId } : {}),
        ...(a.strategy ? { strategy: a.strategy } : {}),
      };
      const usage = ctx.services.usage;
      const [totals, series, adapters, keys, users, byStrategy] = await Promise.all([
        usage.totals(filter),
        usage.series(filter, a.groupBy === "HOUR" ? "hour" : "day"),
        usage.byAdapter(filter, a.top),
        usage.byApiKey(filter, a.top),
        usage.byUser(filter, a.top),
        usage.byStrategy(filter),
      ]);
      return {
        from,
        to,
        groupBy: a.groupBy,
        totals,
        series,
        topAdapters: adapters.map((r) => ({ adapterId: r.adapterId, name: r.name, requests: r.requests, tokensOut: Number(r.tokens_out), errors: r.errors })),
        topApiKeys: keys.map((r) => ({ apiKeyId: r.apiKeyId, name: r.name, prefix: r.prefix, requests: r.requests, tokensOut: Number(r.tokens_out) })),
        topUsers: users.map((r) => ({ userId: r.userId, email: r.email, requests: r.requests, tokensOut: Number(r.tokens_out) })),
        byStrategy,
      };
    },
  },
  AdapterUsage: {
    // The adapter itself only when the caller may still see it (it may have become private
    // to another team or been deleted since); the name recorded here is the team's own.
    adapter: async (row: { adapterId: string | null }, _: unknown, ctx: Context) => {
      if (!row.adapterId) return null;
      return ctx.services.adapters.get(viewer(ctx), row.adapterId);
    },
  },
};
