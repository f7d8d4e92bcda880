import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { ownsGeneration, scopeFor } from "../../auth/policy.js";
import type { GenerateInput, GenerationEvent, GenerationService, UsedAdapter } from "../../generation/generation-service.js";
import { accessCheck, guardedStream, scope, viewer, type Context } from "../context.js";
import { parseArgs } from "./validate.js";

const uuid = z.string().uuid();

function service(ctx: Context): GenerationService {
  const g = ctx.services.generation;
  if (!g)
    throw new QuiverError("MODEL_UNAVAILABLE", "This server has no model that can generate text.", {
      hint: "Start it with QUIVER_MODEL=<a Hugging Face folder with tokenizer.json>.",
    });
  return g;
}

/** RetrievedAdapter objects whose adapter the caller may still see. */
async function withAdapters(ctx: Context, used: UsedAdapter[] | undefined) {
  if (!used) return null;
  const records = await ctx.services.adapters.getMany(
    viewer(ctx),
    used.map((u) => u.adapterId),
  );
  return used.flatMap((u) => {
    const adapter = records.find((r) => r.id === u.adapterId);
    return adapter ? [{ adapter, score: u.score, weight: u.weight }] : [];
  });
}

type GenerationRow = NonNullable<Awaited<ReturnType<Context["services"]["generations"]["get"]>>>;

async function toRecord(ctx: Context, r: GenerationRow) {
  return {
    id: r.id,
    status: r.status,
    strategy: r.strategy,
    finishReason: r.finishReason,
    errorCode: r.errorCode,
    createdAt: r.createdAt,
    usage: r.totalMs === null ? null : { tokensIn: r.tokensIn, tokensOut: r.tokensOut, queueMs: r.queueMs ?? 0, ttftMs: r.ttftMs, totalMs: r.totalMs },
    adapters: await withAdapters(
      ctx,
      r.adapters.filter((a) => a.adapterId).map((a) => ({ adapterId: a.adapterId!, name: a.adapterName, score: a.score ?? 0, weight: a.weight })),
    ),
  };
}

/**
 * A generation the caller owns: its creator, or its team's ADMIN or OWNER (the gate's rule);
 * NOT_FOUND otherwise, so that other members' requests are not revealed.
 */
async function ownGeneration(ctx: Context, id: string): Promise<GenerationRow> {
  const v = viewer(ctx);
  const rec = uuid.safeParse(id).success ? await ctx.services.generations.get(v, id) : null;
  if (!rec || !ownsGeneration(v, rec)) throw new QuiverError("NOT_FOUND", "No such generation.");
  return rec;
}

async function reread(ctx: Context, id: string) {
  return toRecord(ctx, await ownGeneration(ctx, id));
}

/**
 * A live event as the API sends it. The adapters it names are looked up (and filtered by what
 * the caller may see) only when the client selects `adapters`: `used` carries them to the
 * field resolver below, so a stream that asks for text alone costs no catalog reads.
 *
 * An iterator written out, not an async generator: a generator's return() waits until its
 * pending `await` settles, that is until the generation's next event, so a client that
 * unsubscribed (or disconnected) while its request was queued was only let go, and its
 * generation cancelled, once the request had been admitted and prefilled. Here return()
 * closes the event stream at once, which cancels the generation (`onClose`).
 */
function eventStream(
  ctx: Context,
  events: AsyncIterableIterator<GenerationEvent>,
  stillAllowed: () => unknown,
): AsyncIterableIterator<{ generationEvent: unknown }> {
  return guardedStream(events, accessCheck(ctx, stillAllowed), (e) => ({
    generationEvent: { ...e, adapters: undefined, used: e.adapters ?? null, error: e.error ? `${e.error.code}: ${e.error.message}` : null },
  }));
}

export const generationResolvers = {
  GenerationEvent: {
    adapters: (ev: { adapters?: unknown; used?: UsedAdapter[] | null }, _: unknown, ctx: Context) =>
      ev.used !== undefined ? (ev.used ? withAdapters(ctx, ev.used) : null) : (ev.adapters ?? null),
  },
  Query: {
    retrieve: async (_: unknown, args: unknown, ctx: Context) => {
      const a = parseArgs(
        z.object({ input: z.string().max(100_000), k: z.number().int().min(1).max(50), teamId: uuid.nullish(), exclude: z.array(uuid).max(100).nullish() }),
        args,
      );
      const s = scope(ctx, "adapter.read", a.teamId);
      return withAdapters(ctx, await service(ctx).retrieve(s, a.input, a.k, a.exclude ?? []));
    },
    generationRecord: (_: unknown, args: { id: string }, ctx: Context) => reread(ctx, args.id),
  },
  Mutation: {
    generate: async (_: unknown, args: { input: GenerateInput & { teamId?: string | null } }, ctx: Context) => {
      const live = await service(ctx).start(scope(ctx, "generate", args.input.teamId), args.input);
      return reread(ctx, live.id);
    },
    cancelGeneration: async (_: unknown, args: { id: string }, ctx: Context) => {
      const rec = await ownGeneration(ctx, args.id);
      scopeFor(ctx.principal, rec.teamId, "generate");
      const live = service(ctx).get(args.id);
      if (live && !live.finished) {
        live.cancel();
        for await (const e of live.subscribe()) if (e.done) break;
      }
      return reread(ctx, args.id);
    },
  },
  Subscription: {
    generation: {
      subscribe: async (_: unknown, args: { id: string }, ctx: Context) => {
        const rec = await ownGeneration(ctx, args.id);
        const live = service(ctx).get(args.id);
        if (live) return eventStream(ctx, live.subscribe(), () => ownGeneration(ctx, args.id));
        // Finished long ago: one closing event from the record.
        const r = await toRecord(ctx, rec);
        return (async function* () {
          yield {
            generationEvent: {
              generationId: r.id,
              done: true,
              adapters: r.adapters,
              finishReason: r.finishReason,
              usage: r.usage,
              delta: null,
              error: r.errorCode,
            },
          };
        })();
      },
      resolve: (x: { generationEvent: unknown }) => x.generationEvent,
    },
    generate: {
      subscribe: async (_: unknown, args: { input: GenerateInput & { teamId?: string | null } }, ctx: Context) => {
        const s = scope(ctx, "generate", args.input.teamId);
        const live = await service(ctx).start(s, args.input);
        // The client leaving (unsubscribe, disconnect) cancels the generation and frees its cache.
        return eventStream(
          ctx,
          live.subscribe(() => live.cancel()),
          () => scope(ctx, "generate", args.input.teamId),
        );
      },
      resolve: (x: { generationEvent: unknown }) => x.generationEvent,
    },
  },
};
