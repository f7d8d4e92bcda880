"use client";
// Which adapters retrieval picks for the prompt (the `retrieve` query, as the prompt is
// typed), with their cosine scores and mixture weights; each can be pinned. Pinned adapters
// replace retrieval for the run (adapterIds); they are listed first and can be unpinned.
import { useEffect, useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { ErrorState } from "@/components/ui/states";
import { RETRIEVE, type RetrievedAdapter } from "./generation";

export interface PinnedAdapter {
  id: string;
  name: string;
}

interface Props {
  prompt: string;
  k: number;
  pinned: PinnedAdapter[];
  onPin(a: PinnedAdapter): void;
  onUnpin(id: string): void;
  /** Pinning changes what a run does: only for roles that may run. */
  mayPin: boolean;
}

export function RetrievalPreview({ prompt, k, pinned, onPin, onUnpin, mayPin }: Props) {
  const [input, setInput] = useState(prompt.trim());
  useEffect(() => {
    const t = setTimeout(() => setInput(prompt.trim()), 350);
    return () => clearTimeout(t);
  }, [prompt]);
  const q = useQuery<{ retrieve: RetrievedAdapter[] }>(RETRIEVE, { input, k }, { skip: !input });
  const picks = input ? (q.data?.retrieve ?? []) : [];
  const pinnedIds = new Set(pinned.map((p) => p.id));

  return (
    <section className="panel retrieval" aria-labelledby="retrieval-title" data-testid="retrieval">
      <h2 id="retrieval-title">Adapters</h2>
      {pinned.length > 0 && (
        <>
          <h3>Pinned: used instead of retrieval</h3>
          <ul className="picks" data-testid="pinned">
            {pinned.map((p) => (
              <li key={p.id}>
                <span className="name">{p.name}</span>
                <span className="muted small">equal weights</span>
                {mayPin && (
                  <button type="button" className="secondary small" onClick={() => onUnpin(p.id)} aria-label={`Unpin ${p.name}`}>
                    Unpin
                  </button>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>{pinned.length ? "Retrieval would pick" : `Retrieval picks (top ${k})`}</h3>
      {!input ? (
        <p className="muted small">Type a prompt to see which adapters fit it.</p>
      ) : q.error ? (
        <ErrorState error={q.error} what="the retrieval" onRetry={q.reload} />
      ) : !q.data ? (
        <p className="muted small" role="status">
          Retrieving…
        </p>
      ) : picks.length === 0 ? (
        <p className="muted small">No active adapter in this team or among public ones.</p>
      ) : (
        <ul className={`picks ranked${q.loading ? " stale" : ""}`} data-testid="picks">
          {picks.map((r) => (
            <li key={r.adapter.id} data-testid="pick" data-name={r.adapter.name}>
              <span className="name">{r.adapter.name}</span>
              <span className="num small" title="cosine similarity of the prompt and the adapter's embedding">
                score {r.score.toFixed(3)}
              </span>
              <span className="num small" title="mixture weight">
                weight {(r.weight ?? 0).toFixed(2)}
              </span>
              {mayPin &&
                (pinnedIds.has(r.adapter.id) ? (
                  <button type="button" className="secondary small" onClick={() => onUnpin(r.adapter.id)} aria-label={`Unpin ${r.adapter.name}`}>
                    Unpin
                  </button>
                ) : (
                  <button
                    type="button"
                    className="secondary small"
                    onClick={() => onPin({ id: r.adapter.id, name: r.adapter.name })}
                    aria-label={`Pin ${r.adapter.name}`}
                  >
                    Pin
                  </button>
                ))}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
