// The submit button of a settings form and its "Saved." status.

interface SaveRowProps {
  busy: boolean;
  saved: boolean;
  label: string;
  testId: string;
}

export function SaveRow({ busy, saved, label, testId }: SaveRowProps) {
  return (
    <div className="actions-row">
      <button type="submit" disabled={busy}>
        {busy ? "Saving…" : label}
      </button>
      <span className="muted small" role="status" data-testid={testId}>
        {saved ? "Saved." : ""}
      </span>
    </div>
  );
}
