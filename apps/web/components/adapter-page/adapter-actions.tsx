"use client";
// Taking the adapter out of serving and back (disableAdapter / enableAdapter, MEMBER and
// above) and deleting it (ADMIN and above, after a confirmation).
import { useState } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { InlineError } from "@/components/ui/states";
import type { AdapterDetail } from "./adapter-detail";

const DISABLE = /* GraphQL */ `
  mutation DisableAdapter($id: ID!) {
    disableAdapter(id: $id) {
      id
      status
      statusReason
    }
  }
`;
const ENABLE = /* GraphQL */ `
  mutation EnableAdapter($id: ID!) {
    enableAdapter(id: $id) {
      id
      status
      statusReason
    }
  }
`;
const DELETE = /* GraphQL */ `
  mutation DeleteAdapter($id: ID!) {
    deleteAdapter(id: $id)
  }
`;

interface Props {
  adapter: AdapterDetail;
  mayWrite: boolean;
  mayDelete: boolean;
  onChanged(): void;
  /** True before the delete is sent (its pool event may arrive before the answer), false if it failed. */
  onDeleting(active: boolean): void;
  onDeleted(): void;
}

export function AdapterActions({ adapter, mayWrite, mayDelete, onChanged, onDeleting, onDeleted }: Props) {
  const disable = useMutation(DISABLE);
  const enable = useMutation(ENABLE);
  const remove = useMutation<{ deleteAdapter: boolean }>(DELETE);
  const [confirming, setConfirming] = useState(false);
  const disabled = adapter.status === "DISABLED";
  const toggle = disabled ? enable : disable;

  async function onToggle() {
    if (await toggle.run({ id: adapter.id })) onChanged();
  }

  async function onDelete() {
    onDeleting(true);
    if ((await remove.run({ id: adapter.id }))?.deleteAdapter) {
      setConfirming(false);
      onDeleted();
    } else onDeleting(false);
  }

  if (!mayWrite && !mayDelete) return null;
  return (
    <div className="adapter-actions">
      {mayWrite && (adapter.status === "ACTIVE" || disabled) && (
        <button type="button" className="secondary" onClick={() => void onToggle()} disabled={toggle.busy}>
          {disabled ? "Enable" : "Disable"}
        </button>
      )}
      {mayDelete && (
        <button
          type="button"
          className="secondary danger-text"
          onClick={() => {
            remove.reset();
            setConfirming(true);
          }}
        >
          Delete
        </button>
      )}
      <InlineError error={toggle.error} />
      <ConfirmDialog
        open={confirming}
        title={`Delete ${adapter.name}?`}
        confirmLabel="Delete adapter"
        busy={remove.busy}
        error={remove.error}
        onConfirm={() => void onDelete()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          Its {adapter.versions.length === 1 ? "weights" : `${adapter.versions.length} versions`}, samples and embedding are removed and retrieval stops picking
          it at once. Usage history keeps its name. This cannot be undone.
        </p>
      </ConfirmDialog>
    </div>
  );
}
