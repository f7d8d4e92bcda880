// One generation stream of `quiver bench soak`, as a client runs it: a GraphQL `generate`
// subscription (over a shared graphql-ws connection, or a connection of its own) or an
// OpenAI-style streamed /v1/completions (stream_options.continuous_usage_stats, so every
// chunk says how many tokens were delivered). Its fate decides how it ends: read to the end,
// cut by the client after `after` deltas (unsubscribing, dropping its WebSocket, or closing
// its HTTP connection), or cancelled with `cancelGeneration` after `after` deltas.
import http from "node:http";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import type { Observed } from "./soak-checks.js";

export interface StreamRequest {
  api: "graphql" | "openai";
  prompt: string;
  maxTokens: number;
  /** GraphQL: the team it runs for; OpenAI: sent as X-Quiver-Team. */
  teamId: string;
  /** GraphQL only. */
  strategy?: "NONE" | "SELECTION" | "MIXTURE" | "FUSION";
  adapterIds?: string[];
  /** OpenAI only: "base", "auto" or an adapter's name. */
  model?: string;
}

export type Fate =
  | { kind: "complete" }
  /** `socket`: the client drops its whole connection (GraphQL: a WebSocket of its own) rather than unsubscribing. */
  | { kind: "disconnect"; after: number; socket: boolean }
  | { kind: "cancel"; after: number };

export interface StreamResult extends Observed {
  /** The text's length after each delta. */
  deltaEnds: number[];
  /** OpenAI: tokens delivered after each delta (continuous usage). */
  tokensAt: number[];
}

export interface StreamContext {
  url: string;
  token: string;
  /** A shared connection for GraphQL streams that do not drop their own. */
  shared: Client;
  /** Cancels a generation (cancelGeneration); resolves when answered. */
  cancel: (generationId: string) => Promise<void>;
}

function emptyResult(): StreamResult {
  return { outcome: "error", text: "", deltas: 0, deltaEnds: [], tokensAt: [] };
}

export function runStream(ctx: StreamContext, req: StreamRequest, fate: Fate): Promise<StreamResult> {
  return req.api === "graphql" ? graphqlStream(ctx, req, fate) : openaiStream(ctx, req, fate);
}

function graphqlStream(ctx: StreamContext, req: StreamRequest, fate: Fate): Promise<StreamResult> {
  const r = emptyResult();
  const own = fate.kind === "disconnect" && fate.socket;
  let socket: WebSocket | undefined;
  const client = own
    ? createClient({
        url: ctx.url.replace(/^http/, "ws") + "/graphql",
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${ctx.token}` },
        retryAttempts: 0,
      })
    : ctx.shared;
  if (own) client.on("connected", (s) => (socket = s as WebSocket));
  return new Promise<StreamResult>((resolve) => {
    let settled = false;
    let acted = false;
    const finish = (outcome: StreamResult["outcome"], error?: string) => {
      if (settled) return;
      settled = true;
      r.outcome = outcome;
      if (error) r.error = error;
      if (own) void client.dispose();
      resolve(r);
    };
    const input = {
      prompt: req.prompt,
      strategy: req.strategy ?? "NONE",
      ...(req.adapterIds?.length ? { adapterIds: req.adapterIds } : {}),
      maxTokens: req.maxTokens,
      temperature: 0,
      ignoreEos: true,
      teamId: req.teamId,
    };
    let unsubscribe = () => {};
    const act = () => {
      if (acted || fate.kind === "complete" || r.deltas < fate.after || !r.generationId) return;
      acted = true;
      if (fate.kind === "cancel") {
        void ctx.cancel(r.generationId).catch((e: Error) => finish("error", `cancelGeneration: ${e.message}`));
        return;
      }
      if (socket) socket.terminate();
      else unsubscribe();
      finish("disconnected");
    };
    unsubscribe = client.subscribe<{
      generate: {
        generationId: string;
        delta: string | null;
        done: boolean;
        finishReason: string | null;
        usage: { tokensOut: number } | null;
        error: string | null;
      };
    }>(
      {
        query: `subscription($i: GenerateInput!) { generate(input: $i) { generationId delta done finishReason usage { tokensOut } error } }`,
        variables: { i: input },
      },
      {
        next: (v) => {
          if (settled) return;
          if (v.errors) return finish("error", JSON.stringify(v.errors));
          const e = v.data!.generate;
          r.generationId ??= e.generationId;
          if (e.delta) {
            r.text += e.delta;
            r.deltas++;
            r.deltaEnds.push(r.text.length);
          }
          if (e.done) {
            r.finishReason = e.finishReason ?? undefined;
            r.finalTokens = e.usage?.tokensOut;
            if (e.finishReason === "error" || e.error) return finish("error", e.error ?? "finish reason error");
            return finish(e.finishReason === "cancelled" ? "cancelled" : "completed");
          }
          act();
        },
        error: (err) => finish("error", err instanceof Error ? err.message : JSON.stringify(err)),
        complete: () => finish("error", "the subscription ended without a last event"),
      },
    );
  });
}

function openaiStream(ctx: StreamContext, req: StreamRequest, fate: Fate): Promise<StreamResult> {
  const r = emptyResult();
  return new Promise<StreamResult>((resolve) => {
    let settled = false;
    let acted = false;
    const finish = (outcome: StreamResult["outcome"], error?: string) => {
      if (settled) return;
      settled = true;
      r.outcome = outcome;
      if (error) r.error = error;
      resolve(r);
    };
    const payload = JSON.stringify({
      model: req.model ?? "base",
      prompt: req.prompt,
      max_tokens: req.maxTokens,
      temperature: 0,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true },
    });
    const http_ = http.request(
      `${ctx.url}/v1/completions`,
      {
        method: "POST",
        agent: false,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${ctx.token}`,
          "x-quiver-team": req.teamId,
          "content-length": Buffer.byteLength(payload),
        },
      },
      (res) => {
        let buf = "";
        let quiverFinish: string | undefined;
        let failure: string | undefined;
        res.setEncoding("utf8");
        const act = () => {
          if (acted || fate.kind === "complete" || r.deltas < fate.after || !r.generationId) return;
          acted = true;
          if (fate.kind === "cancel") {
            void ctx.cancel(r.generationId).catch((e: Error) => finish("error", `cancelGeneration: ${e.message}`));
            return;
          }
          finish("disconnected");
          http_.destroy();
        };
        res.on("data", (d: string) => {
          if (settled) return;
          buf += d;
          let at: number;
          while ((at = buf.indexOf("\n\n")) >= 0) {
            const event = buf.slice(0, at);
            buf = buf.slice(at + 2);
            if (res.statusCode !== 200) continue;
            for (const line of event.split("\n")) {
              if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
              const c = JSON.parse(line.slice(6)) as {
                id?: string;
                choices?: { text?: string; finish_reason?: string | null }[];
                usage?: { completion_tokens: number };
                error?: { code?: string; message?: string };
                quiver?: { finish_reason?: string };
              };
              if (c.id && !r.generationId) r.generationId = c.id.replace(/^cmpl-/, "");
              const choice = c.choices?.[0];
              if (choice?.text) {
                r.text += choice.text;
                r.deltas++;
                r.deltaEnds.push(r.text.length);
                if (c.usage) {
                  r.tokensReceived = c.usage.completion_tokens;
                  r.tokensAt.push(c.usage.completion_tokens);
                }
              }
              if (choice?.finish_reason) quiverFinish = c.quiver?.finish_reason;
              if (c.usage && !c.choices?.length) r.finalTokens = c.usage.completion_tokens;
              if (c.error) failure = `${c.error.code}: ${c.error.message}`;
            }
            if (settled) return;
            act();
          }
        });
        res.on("end", () => {
          if (res.statusCode !== 200) return finish("error", `HTTP ${res.statusCode}: ${buf.slice(0, 300)}`);
          r.finishReason = quiverFinish;
          if (failure) return finish("error", failure);
          if (!quiverFinish) return finish("error", "the stream ended without a finish reason");
          finish(quiverFinish === "cancelled" ? "cancelled" : "completed");
        });
        res.on("error", (e) => finish("error", e.message));
      },
    );
    http_.on("error", (e) => finish("error", e.message));
    http_.end(payload);
  });
}

/** A graphql-ws connection authorised with `token`. */
export function sharedClient(url: string, token: string): Client {
  return createClient({
    url: url.replace(/^http/, "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    keepAlive: 10_000,
  });
}
