"use client";
// The adapters uploaded from this page, with their status as it changes: PENDING while the
// API embeds the samples, then ACTIVE (or FAILED, with why). Statuses come from pool events;
// an event may arrive before the upload's own answer, so every status seen is kept by id.
import Link from "next/link";
import { useState } from "react";
import { useTeam } from "@/components/shell/team-context";
import type { UploadedAdapter } from "./upload-client";
import { usePoolEvents } from "./pool-events";
import { StatusBadge } from "./status-badge";

export function RecentUploads({ uploads, onDismiss }: { uploads: UploadedAdapter[]; onDismiss(): void }) {
  const { team } = useTeam();
  const [seen, setSeen] = useState<Record<string, { status: string; reason: string | null; version: number | null }>>({});
  usePoolEvents(team.id, (e) => {
    if (e.adapter) setSeen((s) => ({ ...s, [e.adapterId]: { status: e.adapter!.status, reason: e.adapter!.statusReason, version: e.adapter!.version } }));
  });
  if (!uploads.length) return null;
  return (
    <section className="panel recent-uploads" aria-labelledby="recent-uploads-title" data-testid="recent-uploads">
      <div className="toolbar between-top">
        <h2 id="recent-uploads-title">Uploaded</h2>
        <button type="button" className="secondary small" onClick={onDismiss}>
          Dismiss
        </button>
      </div>
      <ul aria-live="polite">
        {uploads.map((u) => {
          const now = seen[u.id];
          const status = now?.status ?? u.status;
          return (
            <li key={u.id} data-testid="recent-upload" data-status={status}>
              <Link href={`/adapters/${u.id}`} className="strong">
                {u.name}
              </Link>{" "}
              <StatusBadge status={status} reason={now?.reason ?? null} />{" "}
              <span className="muted small">
                {status === "PENDING" ? "embedding its samples for retrieval…" : status === "ACTIVE" ? "in the pool: retrieval can pick it now." : ""}
              </span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
