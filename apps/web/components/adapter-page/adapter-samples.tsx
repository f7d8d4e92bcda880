"use client";
// The adapter's sample inputs: read by everyone; edited in place by MEMBER and above
// (setAdapterSamples, which recomputes the retrieval embedding).
import { useState } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { sampleProblems, samplesValid } from "@/components/adapters/samples";
import { SamplesEditor } from "@/components/adapters/samples-editor";
import type { AdapterDetail } from "./adapter-detail";

const SET_SAMPLES = /* GraphQL */ `
  mutation SetAdapterSamples($id: ID!, $samples: [String!]!) {
    setAdapterSamples(id: $id, samples: $samples) {
      id
      samples
    }
  }
`;

export function AdapterSamples({ adapter, writable, onSaved }: { adapter: AdapterDetail; writable: boolean; onSaved(): void }) {
  const [editing, setEditing] = useState<string[] | null>(null);
  const [attempted, setAttempted] = useState(false);
  const save = useMutation<{ setAdapterSamples: { samples: string[] } }>(SET_SAMPLES);

  async function submit() {
    if (!editing) return;
    setAttempted(true);
    const checked = sampleProblems(editing);
    if (!samplesValid(checked)) return;
    if (await save.run({ id: adapter.id, samples: checked.filled })) {
      setEditing(null);
      setAttempted(false);
      onSaved();
    }
  }

  return (
    <section className="panel" aria-labelledby="samples-title" data-testid="adapter-samples">
      <div className="toolbar between-top">
        <h2 id="samples-title">Samples ({adapter.samples.length})</h2>
        {writable && !editing && (
          <button
            type="button"
            className="secondary small"
            onClick={() => {
              save.reset();
              setEditing(adapter.samples);
            }}
          >
            Edit samples
          </button>
        )}
      </div>
      {editing ? (
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <SamplesEditor
            rows={editing}
            onChange={setEditing}
            strict={attempted}
            apiError={save.error?.message}
            disabled={save.busy}
            legend="Edit the samples"
          />
          <div className="actions-row">
            <button type="submit" disabled={save.busy}>
              {save.busy ? "Saving…" : "Save samples"}
            </button>
            <button type="button" className="secondary" onClick={() => setEditing(null)} disabled={save.busy}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <ol className="sample-list">
          {adapter.samples.map((s, i) => (
            <li key={i}>{s}</li>
          ))}
        </ol>
      )}
    </section>
  );
}
