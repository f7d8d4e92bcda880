"use client";
// Description and visibility (updateAdapter, MEMBER and above in the adapter's team; making
// it PUBLIC needs adapter.publish, ADMIN and above). Only what changed is sent; the API's
// refusal shows under the form.
import { useId, useState, type FormEvent } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { InlineError } from "@/components/ui/states";
import type { Visibility } from "@/components/adapters/adapter-view";
import { VisibilitySelect } from "@/components/adapters/visibility-select";
import type { AdapterDetail } from "./adapter-detail";

const UPDATE = /* GraphQL */ `
  mutation UpdateAdapter($id: ID!, $changes: AdapterChanges!) {
    updateAdapter(id: $id, changes: $changes) {
      id
      description
      visibility
      updatedAt
    }
  }
`;

export function AdapterSettings({ adapter, mayPublish, onSaved }: { adapter: AdapterDetail; mayPublish: boolean; onSaved(): void }) {
  const id = useId();
  const [description, setDescription] = useState(adapter.description);
  const [visibility, setVisibility] = useState(adapter.visibility);
  const [saved, setSaved] = useState(false);
  const update = useMutation<{ updateAdapter: { id: string } }>(UPDATE);
  const changes = {
    ...(description.trim() !== adapter.description ? { description: description.trim() } : {}),
    ...(visibility !== adapter.visibility ? { visibility } : {}),
  };
  const dirty = Object.keys(changes).length > 0;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!dirty) return;
    if (await update.run({ id: adapter.id, changes })) {
      setSaved(true);
      onSaved();
    }
  }

  return (
    <form className="panel stack" aria-labelledby={`${id}-title`} onSubmit={(e) => void submit(e)} data-testid="adapter-settings">
      <h2 id={`${id}-title`}>Description and visibility</h2>
      <div className="field">
        <label htmlFor={`${id}-description`}>Description</label>
        <textarea
          id={`${id}-description`}
          rows={3}
          maxLength={2000}
          value={description}
          onChange={(e) => {
            setDescription(e.target.value);
            setSaved(false);
          }}
        />
      </div>
      <div className="field">
        <label htmlFor={`${id}-visibility`}>Visibility</label>
        <VisibilitySelect
          id={`${id}-visibility`}
          value={visibility}
          mayPublish={mayPublish}
          onChange={(v: Visibility) => {
            setVisibility(v);
            setSaved(false);
          }}
        />
      </div>
      <InlineError error={update.error} />
      <div className="actions-row">
        <button type="submit" disabled={!dirty || update.busy}>
          {update.busy ? "Saving…" : "Save"}
        </button>
        <span className="muted small" role="status">
          {saved && !dirty ? "Saved." : ""}
        </span>
      </div>
    </form>
  );
}
