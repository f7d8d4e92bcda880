"use client";
// One generation of a run, side by side with the others of a comparison: the strategy, the
// adapters it used with their weights, the text as it streams, a stop button, and at the end
// the finish reason and usage (tokens, time to first token, total time).
import { useEffect, useRef } from "react";
import { formatMs } from "@/components/ui/format";
import { ProblemText } from "@/components/ui/problem";
import { strategyInfo, type GenerateInput } from "./generation";
import { useGeneration, type RunState } from "./use-generation";

const statusText: Record<RunState["status"], string> = {
  starting: "Submitting…",
  streaming: "Streaming…",
  done: "Done",
  stopping: "Stopping…",
  stopped: "Stopped",
  failed: "Failed",
};

export function RunPanel({ input, stopAll, onRunning }: { input: GenerateInput; stopAll: number; onRunning(running: boolean): void }) {
  const { state, stop } = useGeneration(input);
  const running = state.status === "starting" || state.status === "streaming";
  const report = useRef(onRunning);
  report.current = onRunning;
  useEffect(() => report.current(running), [running]);

  // "Stop all" counts up; a panel obeys the presses made after it started.
  const stopsAtStart = useRef(stopAll);
  useEffect(() => {
    if (stopAll !== stopsAtStart.current) stop();
  }, [stopAll, stop]);

  const info = strategyInfo[input.strategy];
  return (
    <article className="run panel" aria-labelledby={`run-${input.strategy}`} data-testid="run" data-strategy={input.strategy} data-status={state.status}>
      <header className="run-head">
        <h3 id={`run-${input.strategy}`}>{info.label}</h3>
        <span className={`run-status ${state.status}`} role="status">
          {statusText[state.status]}
        </span>
        {running && (
          <button type="button" className="secondary small danger-text" onClick={stop} aria-label={`Stop the ${info.label.toLowerCase()} generation`}>
            Stop
          </button>
        )}
      </header>
      <p className="muted small">{info.help}</p>
      {input.strategy !== "NONE" && (
        <div className="run-adapters">
          {state.adapters === null ? (
            <span className="muted small">{running ? "Choosing adapters…" : "—"}</span>
          ) : state.adapters.length === 0 ? (
            <span className="muted small">No adapter was used (none active matched).</span>
          ) : (
            <ul className="weights" aria-label={`Adapters used by ${info.label.toLowerCase()}`} data-testid="run-adapters">
              {state.adapters.map((a) => (
                <li key={a.adapter.id}>
                  <span className="name">{a.adapter.name}</span>
                  <span className="weight-bar" aria-hidden="true">
                    <span style={{ width: `${Math.round(100 * (a.weight ?? 0))}%` }} />
                  </span>
                  <span className="num small">
                    w {(a.weight ?? 0).toFixed(2)} · s {a.score.toFixed(2)}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <pre className="output" data-testid="run-output" aria-busy={running} aria-label={`Output of ${info.label.toLowerCase()}`}>
        <span className={input.prompt ? "prompt" : undefined}>{input.prompt}</span>
        {state.text}
        {running && <span className="caret" aria-hidden="true" />}
      </pre>
      {state.error && (
        <p className="error" role="alert" data-testid="run-error" data-code={state.error.code}>
          <ProblemText error={state.error} />
          {state.error.code === "ACCESS_REVOKED" && " The generation was stopped."}
        </p>
      )}
      <dl className="run-usage" data-testid="run-usage">
        <div>
          <dt>Tokens</dt>
          <dd>{state.usage ? `${state.usage.tokensIn} in · ${state.usage.tokensOut} out` : `${state.deltas} out`}</dd>
        </div>
        <div>
          <dt>First token</dt>
          <dd title={state.firstTextMs !== null ? `${formatMs(state.firstTextMs)} as this browser saw it` : undefined}>
            {formatMs(state.usage?.ttftMs ?? null)}
          </dd>
        </div>
        <div>
          <dt>Total</dt>
          <dd>{formatMs(state.usage?.totalMs ?? null)}</dd>
        </div>
        <div>
          <dt>Finish</dt>
          <dd data-testid="run-finish">{state.finishReason ?? "—"}</dd>
        </div>
      </dl>
    </article>
  );
}
