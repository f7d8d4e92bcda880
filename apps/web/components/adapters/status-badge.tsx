// An adapter's lifecycle state (PENDING -> ACTIVE | FAILED, DISABLED) as a labelled badge,
// with the reason when it failed or was disabled.
const labels: Record<string, string> = { PENDING: "Validating", ACTIVE: "Active", FAILED: "Failed", DISABLED: "Disabled" };

export function StatusBadge({ status, reason }: { status: string; reason: string | null }) {
  return (
    <>
      <span className={`badge status ${status}`} title={reason ?? undefined}>
        {labels[status] ?? status.toLowerCase()}
      </span>
      {reason && (status === "FAILED" || status === "DISABLED") && <span className="muted block small reason">{reason}</span>}
    </>
  );
}

export function VisibilityBadge({ visibility }: { visibility: string }) {
  return <span className={`badge visibility ${visibility}`}>{visibility === "PUBLIC" ? "Public" : "Private"}</span>;
}
