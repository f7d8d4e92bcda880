"use client";
// One streaming generation: subscribes to `generate` on mount and collects its events (the
// adapters and weights first, then text deltas, then done with the finish reason and usage).
// `stop()` unsubscribes, which cancels the generation on the server; the final state of a
// stopped generation is then read from `generationRecord` once the server has settled it.
// A refusal keeps the API's code and wait (QUOTA_EXCEEDED, RATE_LIMITED and OVERLOADED with
// retryAfterSeconds; ACCESS_REVOKED when the user's access changed during the stream).
import { useCallback, useEffect, useRef, useState } from "react";
import { GraphQLRequestError } from "@/components/api/graphql";
import { useApi } from "@/components/api/provider";
import { subscribe } from "@/components/api/subscriptions";
import { problemTitle, type Refusal } from "@/components/ui/problem";
import {
  GENERATE,
  GENERATION_RECORD,
  type GenerateInput,
  type GenerationEvent,
  type GenerationRecord,
  type GenerationUsage,
  type RetrievedAdapter,
} from "./generation";

export type RunStatus = "starting" | "streaming" | "done" | "stopping" | "stopped" | "failed";

export interface RunState {
  status: RunStatus;
  generationId: string | null;
  adapters: RetrievedAdapter[] | null;
  text: string;
  /** Deltas received (tokens, or a few bytes more where UTF-8 spans tokens). */
  deltas: number;
  finishReason: string | null;
  usage: GenerationUsage | null;
  error: Refusal | null;
  /** Milliseconds from submitting to the first text, as this browser saw it. */
  firstTextMs: number | null;
}

const initial: RunState = {
  status: "starting",
  generationId: null,
  adapters: null,
  text: "",
  deltas: 0,
  finishReason: null,
  usage: null,
  error: null,
  firstTextMs: null,
};
const terminal = new Set(["DONE", "CANCELLED", "FAILED"]);

/** A refusal of the subscription: the API's words, with its code where no title says it. */
function refusalOf(err: GraphQLRequestError): Refusal {
  const plain = err.code === "INTERNAL" || err.code === "NETWORK" || problemTitle(err.code);
  return { message: plain ? err.message : `${err.message} (${err.code})`, code: err.code, retryAfterSeconds: err.retryAfterSeconds };
}

/** An event's or record's error ("CODE: message", or a code alone) as a refusal. */
function streamError(error: string | null): Refusal | null {
  if (!error) return null;
  const m = /^([A-Z_]+)(?::\s*(.*))?$/s.exec(error);
  return m ? { code: m[1], message: m[2] || m[1]! } : { message: error };
}

export function useGeneration(input: GenerateInput): { state: RunState; stop(): void } {
  const { live, request } = useApi();
  const [state, setState] = useState<RunState>(initial);
  const unsubscribe = useRef<(() => void) | null>(null);
  const generationId = useRef<string | null>(null);
  const [inputKey] = useState(() => JSON.stringify(input));

  useEffect(() => {
    if (!live) return;
    const started = performance.now();
    setState(initial);
    generationId.current = null;
    unsubscribe.current = subscribe<{ generate: GenerationEvent }>(
      live,
      GENERATE,
      { input: JSON.parse(inputKey) },
      {
        next: ({ generate: e }) => {
          generationId.current = e.generationId;
          setState((s) => {
            const next: RunState = { ...s, generationId: e.generationId, status: s.status === "starting" ? "streaming" : s.status };
            if (e.adapters) next.adapters = e.adapters;
            if (e.delta) {
              next.text = s.text + e.delta;
              next.deltas = s.deltas + 1;
              if (s.firstTextMs === null) next.firstTextMs = Math.round(performance.now() - started);
            }
            if (e.done) {
              next.status = e.error || e.finishReason === "error" ? "failed" : "done";
              next.finishReason = e.finishReason;
              next.usage = e.usage;
              next.error = streamError(e.error);
            }
            return next;
          });
          if (e.done) unsubscribe.current = null;
        },
        error: (err: GraphQLRequestError) => {
          unsubscribe.current = null;
          setState((s) => ({ ...s, status: "failed", error: refusalOf(err) }));
        },
        complete: () => {
          unsubscribe.current = null;
        },
      },
    );
    // Leaving the page (or a new run replacing this one) cancels it.
    return () => {
      unsubscribe.current?.();
      unsubscribe.current = null;
    };
  }, [live, inputKey]);

  const stop = useCallback(() => {
    const end = unsubscribe.current;
    if (!end) return;
    end();
    unsubscribe.current = null;
    const id = generationId.current;
    setState((s) => ({ ...s, status: id ? "stopping" : "stopped" }));
    if (!id) return;
    // The server cancels within a step; read what it recorded (a few tries while it settles).
    void (async () => {
      for (let attempt = 0; attempt < 25; attempt++) {
        const r = await request<{ generationRecord: GenerationRecord | null }>(GENERATION_RECORD, { id }).catch(() => null);
        const rec = r?.generationRecord;
        if (rec && terminal.has(rec.status)) {
          setState((s) => ({
            ...s,
            status: rec.status === "FAILED" ? "failed" : "stopped",
            finishReason: rec.finishReason,
            usage: rec.usage,
            error: streamError(rec.errorCode),
          }));
          return;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      setState((s) => ({ ...s, status: "stopped" }));
    })();
  }, [request]);

  return { state, stop };
}
