"use client";
// One adapter: its status (live, from pool events), configuration, samples, versions,
// nearest neighbours and usage, with the controls the caller's role allows in the
// adapter's team (a public adapter of another team is read-only here).
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useRef, useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { can } from "@/components/auth/permissions";
import { usePoolEvents } from "@/components/adapters/pool-events";
import { StatusBadge, VisibilityBadge } from "@/components/adapters/status-badge";
import { useTeam } from "@/components/shell/team-context";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { AdapterActions } from "./adapter-actions";
import { AdapterConfig } from "./adapter-config";
import { ADAPTER_DETAIL, type AdapterDetail } from "./adapter-detail";
import { AdapterNeighbours } from "./adapter-neighbours";
import { AdapterSamples } from "./adapter-samples";
import { AdapterSettings } from "./adapter-settings";
import { AdapterUsage } from "./adapter-usage";
import { AdapterVersions } from "./adapter-versions";

export function AdapterPage({ id }: { id: string }) {
  const { team } = useTeam();
  const router = useRouter();
  const q = useQuery<{ adapter: AdapterDetail | null }>(ADAPTER_DETAIL, { id });
  const [removed, setRemoved] = useState(false);
  // Set when this page deletes the adapter: its REMOVED event is then no news.
  const deleting = useRef(false);
  const { reload } = q;
  usePoolEvents(
    team.id,
    (e) => {
      if (e.adapterId !== id) return;
      if (e.kind === "REMOVED") {
        if (!deleting.current) setRemoved(true);
      } else reload();
    },
    reload,
  );

  const back = (
    <p className="back">
      <Link href="/adapters">← Adapter pool</Link>
    </p>
  );
  const a = q.data?.adapter;
  if (removed)
    return (
      <>
        {back}
        <EmptyState title="This adapter was deleted." testId="adapter-removed">
          Someone removed it from the pool while you were looking at it.
        </EmptyState>
      </>
    );
  if (q.error)
    return (
      <>
        {back}
        <ErrorState error={q.error} what="the adapter" onRetry={q.reload} />
      </>
    );
  if (!q.data) return <LoadingState label="Loading the adapter…" />;
  if (!a)
    return (
      <>
        {back}
        <EmptyState title="No such adapter." testId="adapter-missing">
          It was deleted, or it belongs to another team and is not public.
        </EmptyState>
      </>
    );

  const own = a.team.id === team.id;
  const mayWrite = own && can(team, "adapter.write");
  const mayDelete = own && can(team, "adapter.delete");

  return (
    <>
      {back}
      <div className="page-title adapter-title">
        <h1>{a.name}</h1>
        <span data-testid="adapter-status" data-status={a.status}>
          <StatusBadge status={a.status} reason={a.statusReason} />
        </span>
        <VisibilityBadge visibility={a.visibility} />
        {!own && <span className="muted">from {a.team.name}</span>}
        <AdapterActions
          adapter={a}
          mayWrite={mayWrite}
          mayDelete={mayDelete}
          onChanged={reload}
          onDeleting={(active) => (deleting.current = active)}
          onDeleted={() => router.push("/adapters")}
        />
      </div>
      {a.description ? <p className="description">{a.description}</p> : <p className="muted">No description.</p>}
      {!mayWrite && (
        <p className="muted small" data-testid="read-only-note">
          {own ? "Your role may read this adapter; members and above edit it." : "A public adapter of another team: read-only here."}
        </p>
      )}
      <div className="adapter-grid">
        <AdapterConfig adapter={a} />
        <AdapterNeighbours key={`${a.status}-${a.version}`} adapterId={a.id} status={a.status} teamId={team.id} />
        {mayWrite && <AdapterSettings key={`${a.description}|${a.visibility}`} adapter={a} mayPublish={can(team, "adapter.publish")} onSaved={reload} />}
        <AdapterSamples adapter={a} writable={mayWrite} onSaved={reload} />
      </div>
      <AdapterVersions adapter={a} writable={mayWrite} onChanged={reload} />
      <AdapterUsage adapterId={a.id} />
    </>
  );
}
