"use client";
// The playground: a prompt, the adapters retrieval picks for it (editable: k, pins), one or
// more strategies run side by side on the same prompt, each streaming token by token through
// its own `generate` subscription, with stop buttons. Running needs MEMBER or above; a
// VIEWER sees the retrieval but no run controls.
import { useId, useState, type FormEvent } from "react";
import { can, roleLabel } from "@/components/auth/permissions";
import { useTeam } from "@/components/shell/team-context";
import { AdapterPicker } from "./adapter-picker";
import { strategies, strategyInfo, type GenerateInput, type Strategy } from "./generation";
import { RetrievalPreview, type PinnedAdapter } from "./retrieval-preview";
import { RunPanel } from "./run-panel";

interface Run {
  id: number;
  inputs: GenerateInput[];
}

export function PlaygroundPage() {
  const { team } = useTeam();
  return <TeamPlayground key={team.id} mayRun={can(team, "generate")} role={roleLabel(team.viewerRole)} />;
}

function TeamPlayground({ mayRun, role }: { mayRun: boolean; role: string }) {
  const id = useId();
  const [prompt, setPrompt] = useState("");
  const [chosen, setChosen] = useState<Strategy[]>(["MIXTURE"]);
  const [k, setK] = useState(3);
  const [maxTokens, setMaxTokens] = useState(128);
  const [temperature, setTemperature] = useState(0);
  const [ignoreEos, setIgnoreEos] = useState(false);
  const [pinned, setPinned] = useState<PinnedAdapter[]>([]);
  const [run, setRun] = useState<Run | null>(null);
  const [stopAll, setStopAll] = useState(0);
  const [running, setRunning] = useState<ReadonlySet<Strategy>>(new Set());
  const [problem, setProblem] = useState<string | null>(null);

  function toggle(s: Strategy, on: boolean) {
    setChosen((c) => (on ? strategies.filter((x) => x === s || c.includes(x)) : c.filter((x) => x !== s)));
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!chosen.length) return setProblem("Choose at least one strategy.");
    if (!prompt.trim() && chosen.some((s) => s !== "NONE") && !pinned.length)
      return setProblem("Type a prompt: retrieval needs text to match (or run the base model alone with None).");
    setProblem(null);
    const base = { prompt, k, maxTokens, temperature, ignoreEos, ...(pinned.length ? { adapterIds: pinned.map((p) => p.id) } : {}) };
    setRunning(new Set());
    setRun((r) => ({ id: (r?.id ?? 0) + 1, inputs: chosen.map((strategy) => ({ ...base, strategy })) }));
  }

  return (
    <>
      <div className="page-title">
        <h1>Playground</h1>
        <span className="muted">Compare composition strategies on one prompt.</span>
      </div>
      <div className="playground">
        <form className="panel stack prompt-form" aria-label="Generation" onSubmit={submit} noValidate>
          <div className="field">
            <label htmlFor={`${id}-prompt`}>Prompt</label>
            <textarea id={`${id}-prompt`} rows={4} value={prompt} onChange={(e) => setPrompt(e.target.value)} placeholder="Once upon a time…" />
          </div>
          {mayRun && (
            <fieldset className="strategies">
              <legend>Strategies (choose two or more to compare side by side)</legend>
              {strategies.map((s) => (
                <label key={s} className="checkbox strategy">
                  <input type="checkbox" checked={chosen.includes(s)} onChange={(e) => toggle(s, e.target.checked)} />
                  <span>
                    {strategyInfo[s].label} <span className="muted small">({strategyInfo[s].help})</span>
                  </span>
                </label>
              ))}
            </fieldset>
          )}
          <div className="params">
            <div className="field">
              <label htmlFor={`${id}-k`}>Adapters to retrieve (k)</label>
              <input
                id={`${id}-k`}
                type="number"
                min={1}
                max={8}
                value={k}
                onChange={(e) => setK(clamp(Number(e.target.value), 1, 8))}
                disabled={pinned.length > 0}
              />
            </div>
            {mayRun && (
              <>
                <div className="field">
                  <label htmlFor={`${id}-max`}>Max tokens</label>
                  <input
                    id={`${id}-max`}
                    type="number"
                    min={1}
                    max={1024}
                    value={maxTokens}
                    onChange={(e) => setMaxTokens(clamp(Number(e.target.value), 1, 1024))}
                  />
                </div>
                <div className="field">
                  <label htmlFor={`${id}-temp`}>Temperature</label>
                  <input
                    id={`${id}-temp`}
                    type="number"
                    min={0}
                    max={2}
                    step={0.1}
                    value={temperature}
                    onChange={(e) => setTemperature(clamp(Number(e.target.value), 0, 2))}
                  />
                </div>
              </>
            )}
          </div>
          {mayRun && (
            <label className="checkbox">
              <input type="checkbox" checked={ignoreEos} onChange={(e) => setIgnoreEos(e.target.checked)} /> Generate exactly max tokens (ignore end of
              sequence)
            </label>
          )}
          {problem && (
            <p className="error" role="alert">
              {problem}
            </p>
          )}
          {mayRun ? (
            <div className="actions-row">
              <button type="submit">{chosen.length > 1 ? `Run ${chosen.length} side by side` : "Run"}</button>
              {running.size > 0 && (
                <button type="button" className="secondary danger-text" onClick={() => setStopAll((n) => n + 1)}>
                  Stop all
                </button>
              )}
            </div>
          ) : (
            <p className="muted" data-testid="run-note">
              Your role ({role}) may see which adapters a prompt retrieves; running generations needs Member or above.
            </p>
          )}
        </form>
        <div className="stack">
          <RetrievalPreview
            prompt={prompt}
            k={k}
            pinned={pinned}
            mayPin={mayRun}
            onPin={(a) => setPinned((p) => (p.some((x) => x.id === a.id) ? p : [...p, a]))}
            onUnpin={(pid) => setPinned((p) => p.filter((x) => x.id !== pid))}
          />
          {mayRun && <AdapterPicker pinned={pinned} onPin={(a) => setPinned((p) => (p.some((x) => x.id === a.id) ? p : [...p, a]))} />}
        </div>
      </div>
      {run && (
        <section aria-label="Outputs" className="runs" data-testid="runs" key={run.id}>
          {run.inputs.map((input) => (
            <RunPanel
              key={input.strategy}
              input={input}
              stopAll={stopAll}
              onRunning={(on) =>
                setRunning((r) => {
                  const next = new Set(r);
                  if (on) next.add(input.strategy);
                  else next.delete(input.strategy);
                  return next;
                })
              }
            />
          ))}
        </section>
      )}
    </>
  );
}

function clamp(v: number, lo: number, hi: number): number {
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo;
}
