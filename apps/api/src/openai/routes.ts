// An OpenAI-compatible HTTP API over the same generation service, so existing OpenAI client
// code works unchanged:
//   POST /v1/completions, POST /v1/chat/completions (stream: true -> server-sent events)
//   GET  /v1/models
// `model`: "auto" (input-aware retrieval, mixture of the top 3), "base" (no adapter), or an
// adapter's name (that adapter alone). Auth: Authorization: Bearer <API key or session token>.
// Extensions: `ignore_eos` (as in vLLM); responses carry `quiver.adapters` (what was used) and,
// at the end, `quiver.finish_reason` (Quiver's own: stop, length, context, cancelled...).
// A client that disconnects cancels its generation at once, queued or running.
import type { Request, RequestHandler, Response } from "express";
import { z } from "zod";
import { authenticate, type Principal } from "../auth/principal.js";
import { accessCheck } from "../graphql/context.js";
import { resolveScope, type TeamScope } from "../auth/policy.js";
import { httpStatusOf, isQuiverError, QuiverError } from "../errors.js";
import { setRetryAfter } from "../graphql/format-error.js";
import { databaseUnavailable } from "../catalog/database-health.js";
import type { Services } from "../services.js";
import type { GenerateInput, GenerationEvent, LiveGeneration } from "../generation/generation-service.js";

type OpenAIErrorType = "invalid_request_error" | "authentication_error" | "permission_error" | "not_found_error" | "rate_limit_error" | "server_error";

function errorType(code: string): OpenAIErrorType {
  if (code === "UNAUTHENTICATED") return "authentication_error";
  if (code === "FORBIDDEN") return "permission_error";
  if (code === "NOT_FOUND") return "not_found_error";
  if (code === "RATE_LIMITED" || code === "QUOTA_EXCEEDED" || code === "OVERLOADED") return "rate_limit_error";
  if (code === "ENGINE_ERROR") return "server_error";
  if (code === "INTERNAL" || code === "MODEL_UNAVAILABLE" || code === "DATABASE_UNAVAILABLE" || code === "SHUTTING_DOWN") return "server_error";
  return "invalid_request_error";
}

function sendError(res: Response, err: unknown, services?: Services): void {
  if (res.headersSent) return;
  // The database out of reach: DATABASE_UNAVAILABLE (and the watch refuses what follows at once).
  if (!isQuiverError(err) && services?.database.failed(err)) err = databaseUnavailable(services.health.problem("database"));
  const e = isQuiverError(err) ? err : undefined;
  if (!e) console.error("[openai] internal error:", err);
  const code = e?.code ?? "INTERNAL";
  setRetryAfter(res, err);
  res.status(e ? httpStatusOf[e.code] : 500).json({
    error: { message: e?.message ?? "Internal server error", type: errorType(code), param: (e?.details?.argument as string | undefined) ?? null, code },
  });
}

const stop = z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish();
const common = {
  model: z.string().min(1).max(200),
  max_tokens: z.number().int().min(1).max(4096).nullish(),
  max_completion_tokens: z.number().int().min(1).max(4096).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  n: z.literal(1).nullish(),
  stream: z.boolean().nullish(),
  stop,
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .nullish(),
  user: z.string().nullish(),
  /** continuous_usage_stats (vLLM's extension): every text chunk carries the usage delivered so far. */
  stream_options: z.object({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() }).nullish(),
  /** vLLM's extension: generate exactly max_tokens (benchmarks). */
  ignore_eos: z.boolean().nullish(),
};
const completionBody = z.object({ ...common, prompt: z.union([z.string(), z.array(z.string()).length(1)]) });
const chatBody = z.object({
  ...common,
  messages: z
    .array(
      z.object({
        role: z.enum(["system", "user", "assistant", "developer"]),
        content: z.union([z.string(), z.array(z.object({ type: z.literal("text"), text: z.string() }))]),
      }),
    )
    .min(1)
    .max(256),
});

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const i = r.error.issues[0]!;
  throw new QuiverError("BAD_USER_INPUT", `${i.path.join(".") || "body"}: ${i.message}`, { details: { argument: i.path.join(".") } });
}

/** The caller's scope, through the gate (the X-Quiver-Team header is refused for non-members). */
async function caller(services: Services, req: Request): Promise<TeamScope> {
  const principal = await authenticate(services.identity, req.headers.authorization);
  if (!principal) throw new QuiverError("UNAUTHENTICATED", "Send an API key as 'Authorization: Bearer <key>'.");
  const header = req.headers["x-quiver-team"];
  return resolveScope(principal, { header: typeof header === "string" ? header : undefined }, "generate");
}

/** "auto", "base" or an adapter name the team may use -> strategy and pinned adapters. */
async function resolveModel(services: Services, scope: TeamScope, model: string): Promise<Pick<GenerateInput, "strategy" | "k" | "adapterIds">> {
  if (model === "auto") return { strategy: "MIXTURE", k: 3 };
  if (model === "base") return { strategy: "NONE" };
  const found = await services.adapters.findUsableByName(scope, model);
  if (!found)
    throw new QuiverError("NOT_FOUND", `The model "${model}" does not exist: use "auto", "base" or the name of an ACTIVE adapter your team may use.`, {
      details: { argument: "model" },
    });
  return { strategy: "SELECTION", adapterIds: [found] };
}

function chatPrompt(messages: z.infer<typeof chatBody>["messages"]): { prompt: string; retrievalInput: string } {
  const text = (c: z.infer<typeof chatBody>["messages"][number]["content"]) => (typeof c === "string" ? c : c.map((p) => p.text).join(""));
  const label = { system: "System", developer: "System", user: "User", assistant: "Assistant" } as const;
  const prompt = messages.map((m) => `${label[m.role]}: ${text(m.content)}`).join("\n") + "\nAssistant:";
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  return { prompt, retrievalInput: lastUser ? text(lastUser.content) : prompt };
}

/**
 * OpenAI's `finish_reason` here is "stop" or "length" only: strict clients refuse values
 * outside OpenAI's list (pydantic-ai, LiteLLM). A generation that ended before the model ended
 * it (its length, the context, a cancellation, the server stopping) reads "length", never
 * "stop", so that a cut stream does not look complete; `quiver.finish_reason` says which.
 */
const finishReason = (r: string | undefined) => (r === "stop" ? "stop" : "length");

/** A failed generation's error as the route answers it: a code of ours, else ENGINE_ERROR (the engine's own code in details.reason). */
function generationError(e: { code: string; message: string } | undefined): QuiverError {
  const code = e?.code ?? "ENGINE_ERROR";
  if (code in httpStatusOf) return new QuiverError(code as keyof typeof httpStatusOf, e?.message ?? "The generation failed.");
  return new QuiverError("ENGINE_ERROR", e?.message ?? "The generation failed.", { details: { reason: code } });
}

/** Runs one request: JSON at the end, or server-sent events as tokens come. */
async function respond(
  req: Request,
  res: Response,
  live: LiveGeneration,
  stream: boolean,
  includeUsage: boolean,
  model: string,
  chat: boolean,
  continuousUsage = false,
  access: () => Promise<void> = async () => undefined,
): Promise<void> {
  const id = `${chat ? "chatcmpl" : "cmpl"}-${live.id}`;
  const created = Math.floor(Date.now() / 1000);
  const object = chat ? "chat.completion.chunk" : "text_completion";
  const usageOf = (e: GenerationEvent) =>
    e.usage && { prompt_tokens: e.usage.tokensIn, completion_tokens: e.usage.tokensOut, total_tokens: e.usage.tokensIn + e.usage.tokensOut };
  const quiverExt = (e: GenerationEvent) => ({ adapters: e.adapters?.map((a) => ({ id: a.adapterId, name: a.name, score: a.score, weight: a.weight })) });
  if (stream) {
    res
      .status(200)
      .set({ "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
    res.flushHeaders();
    const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
    for await (const e of live.subscribe()) {
      if (res.destroyed) break;
      if (e.adapters) {
        send(
          chat
            ? { id, object, created, model, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }], quiver: quiverExt(e) }
            : { id, object, created, model, choices: [{ text: "", index: 0, logprobs: null, finish_reason: null }], quiver: quiverExt(e) },
        );
        continue;
      }
      if (e.delta) {
        // A stream is a subscription too: access that ends (key revoked, member removed) ends it.
        try {
          await access();
        } catch (err) {
          live.cancel();
          const code = isQuiverError(err) ? err.code : "INTERNAL";
          send({ error: { message: isQuiverError(err) ? err.message : "Internal error", type: errorType(code), code } });
          break;
        }
        const usage =
          continuousUsage && e.delivered
            ? {
                usage: {
                  prompt_tokens: e.delivered.tokensIn,
                  completion_tokens: e.delivered.tokensOut,
                  total_tokens: e.delivered.tokensIn + e.delivered.tokensOut,
                },
              }
            : {};
        send(
          chat
            ? { id, object, created, model, choices: [{ index: 0, delta: { content: e.delta }, finish_reason: null }], ...usage }
            : { id, object, created, model, choices: [{ text: e.delta, index: 0, logprobs: null, finish_reason: null }], ...usage },
        );
      }
      if (e.done) {
        if (e.finishReason === "error" && e.error) {
          send({ error: { message: e.error.message, type: errorType(e.error.code), code: e.error.code } });
        } else {
          const quiver = { finish_reason: e.finishReason };
          send(
            chat
              ? { id, object, created, model, choices: [{ index: 0, delta: {}, finish_reason: finishReason(e.finishReason) }], quiver }
              : { id, object, created, model, choices: [{ text: "", index: 0, logprobs: null, finish_reason: finishReason(e.finishReason) }], quiver },
          );
          if (includeUsage) send({ id, object, created, model, choices: [], usage: usageOf(e) });
        }
      }
    }
    res.write("data: [DONE]\n\n");
    res.end();
    return;
  }
  let text = "";
  let last: GenerationEvent | undefined;
  let adapters: GenerationEvent | undefined;
  for await (const e of live.subscribe()) {
    if (e.adapters) adapters = e;
    if (e.delta) text += e.delta;
    if (e.done) last = e;
  }
  if (res.destroyed) return;
  if (last?.finishReason === "error") throw generationError(last.error);
  const usage = last && usageOf(last);
  const quiver = { ...(adapters ? quiverExt(adapters) : {}), finish_reason: last?.finishReason };
  res.status(200).json(
    chat
      ? {
          id,
          object: "chat.completion",
          created,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finishReason(last?.finishReason), logprobs: null }],
          usage,
          quiver,
        }
      : {
          id,
          object: "text_completion",
          created,
          model,
          choices: [{ text, index: 0, logprobs: null, finish_reason: finishReason(last?.finishReason) }],
          usage,
          quiver,
        },
  );
}

export function openAIRoutes(services: Services): { completions: RequestHandler; chat: RequestHandler; models: RequestHandler } {
  const run =
    (chat: boolean): RequestHandler =>
    async (req, res) => {
      // A client that goes away cancels its generation at once (queued: it never reaches the
      // engine; running: its KV cache is freed at the next step), even one that left while the
      // request was still being admitted.
      let live: LiveGeneration | undefined;
      let gone = false;
      res.on("close", () => {
        gone = true;
        if (live && !live.finished) live.cancel();
      });
      try {
        const scope = await caller(services, req);
        const generation = services.generation;
        if (!generation) throw new QuiverError("MODEL_UNAVAILABLE", "This server has no model that can generate text.");
        const body = chat ? parse(chatBody, req.body) : parse(completionBody, req.body);
        const route = await resolveModel(services, scope, body.model);
        const { prompt, retrievalInput } =
          "messages" in body ? chatPrompt(body.messages) : { prompt: Array.isArray(body.prompt) ? body.prompt[0]! : body.prompt, retrievalInput: undefined };
        const input: GenerateInput = {
          ...route,
          prompt,
          maxTokens: body.max_completion_tokens ?? body.max_tokens ?? (chat ? 256 : 16),
          temperature: body.temperature ?? 1,
          ...(body.top_p != null ? { topP: body.top_p } : {}),
          ...(body.seed != null ? { seed: body.seed } : {}),
          ...(body.stop ? { stop: typeof body.stop === "string" ? [body.stop] : body.stop } : {}),
          ...(body.ignore_eos ? { ignoreEos: true } : {}),
        };
        live = await generation.start(scope, input, retrievalInput ? { retrievalInput } : {});
        if (gone) live.cancel();
        const header = req.headers["x-quiver-team"];
        const watched = {
          services,
          principal: scope.principal as Principal | undefined,
          authorization: req.headers.authorization,
          requestedTeamId: typeof header === "string" ? header : undefined,
          clientAddress: "",
        };
        const access = accessCheck(watched, () => resolveScope(watched.principal, { header: watched.requestedTeamId }, "generate"));
        await respond(
          req,
          res,
          live,
          body.stream ?? false,
          body.stream_options?.include_usage ?? false,
          body.model,
          chat,
          body.stream_options?.continuous_usage_stats ?? false,
          access,
        );
      } catch (err) {
        sendError(res, err, services);
      }
    };
  const models: RequestHandler = async (req, res) => {
    try {
      const names = await services.adapters.usableNames(await caller(services, req));
      const created = Math.floor(Date.now() / 1000);
      res.json({ object: "list", data: ["auto", "base", ...names].map((id) => ({ id, object: "model", created, owned_by: "quiver" })) });
    } catch (err) {
      sendError(res, err, services);
    }
  };
  return { completions: run(false), chat: run(true), models };
}
