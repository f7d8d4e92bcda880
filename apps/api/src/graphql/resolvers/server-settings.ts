// Server administration: server settings (default and maximum team quotas, self-service team
// creation) and team quotas. Server administrators only (User.isAdmin): a team's own OWNER
// never sets its quotas.
import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { requireServerAdmin } from "../../auth/policy.js";
import type { Context } from "../context.js";
import { parseArgs } from "./validate.js";

const count = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1)
  .nullish();

/** QuotaInput: null = unlimited, omitted = unchanged. */
export const quotaInput = z
  .object({
    tokensPerDay: count,
    requestsPerMinute: count,
    concurrentGenerations: count,
    storageBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
  })
  .strict();

/** GraphQL leaves omitted fields out and sends null for null: keep that difference. */
function changes(q: z.infer<typeof quotaInput> | null | undefined) {
  if (!q) return undefined;
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as { [K in keyof typeof q]?: number | null };
}

export const serverSettingsResolvers = {
  Query: {
    serverSettings: async (_: unknown, __: unknown, ctx: Context) => {
      requireServerAdmin(ctx.principal);
      return ctx.services.serverSettings.get();
    },
  },
  Mutation: {
    updateServerSettings: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireServerAdmin(ctx.principal);
      const { input } = parseArgs(
        z.object({ input: z.object({ defaultQuotas: quotaInput.nullish(), maxQuotas: quotaInput.nullish(), teamCreation: z.boolean().nullish() }).strict() }),
        args,
      );
      return ctx.services.serverSettings.update(
        {
          ...(input.defaultQuotas ? { defaultQuotas: changes(input.defaultQuotas) } : {}),
          ...(input.maxQuotas ? { maxQuotas: changes(input.maxQuotas) } : {}),
          ...(input.teamCreation !== undefined && input.teamCreation !== null ? { teamCreation: input.teamCreation } : {}),
        },
        { userId: p.user.id },
      );
    },
    setTeamQuotas: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireServerAdmin(ctx.principal);
      const { teamId, quotas } = parseArgs(z.object({ teamId: z.string(), quotas: quotaInput }), args);
      if (!z.string().uuid().safeParse(teamId).success) throw new QuiverError("NOT_FOUND", "No such team.");
      return ctx.services.serverSettings.setTeamQuotas(teamId, changes(quotas) ?? {}, { userId: p.user.id });
    },
  },
};
