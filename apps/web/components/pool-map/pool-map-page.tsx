"use client";
// The pool map: how the team's active adapters (and, on request, the public ones it added to
// its pool) relate by retrieval embedding. The heatmap shows the similarity matrix in
// clustering order, the scatter a 2-D projection; both open the adapter page. The list under
// them names the adapters in the map's order with each one's nearest neighbour, for reading
// without the pictures. Pool events re-read the map.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { AccessRevokedNotice, LiveIndicator } from "@/components/adapters/live-status";
import { usePoolEvents } from "@/components/adapters/pool-events";
import { useTeam } from "@/components/shell/team-context";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { POOL_MAP, type PoolMapData } from "./pool-map-query";
import { PoolScatter } from "./pool-scatter";
import { SimilarityHeatmap } from "./similarity-heatmap";

export function PoolMapPage() {
  const { team } = useTeam();
  const router = useRouter();
  const [includePublic, setIncludePublic] = useState(false);
  const q = useQuery<{ poolMap: PoolMapData }>(POOL_MAP, { includePublic });
  const map = q.data?.poolMap;
  // The map holds ACTIVE adapters only: a new upload changes it once it becomes ACTIVE.
  const live = usePoolEvents(
    team.id,
    (e) => {
      if (e.kind === "ADDED" && e.adapter?.status !== "ACTIVE") return;
      q.reload();
    },
    q.reload,
  );
  const open = (id: string) => router.push(`/adapters/${id}`);

  let body;
  if (q.error) body = <ErrorState error={q.error} what="the pool map" onRetry={q.reload} />;
  else if (!map) body = <LoadingState label="Loading the pool map…" />;
  else if (map.adapters.length === 0)
    body = (
      <EmptyState title="No active adapters to map yet." testId="pool-map-empty">
        Adapters appear here once they are active (their samples embedded). <Link href="/adapters">Upload one on the adapter pool page.</Link>
      </EmptyState>
    );
  else
    body = (
      <>
        <div className={`pool-map${q.loading ? " stale" : ""}`}>
          <SimilarityHeatmap adapters={map.adapters} similarity={map.similarity} onOpen={open} />
          <PoolScatter adapters={map.adapters} points={map.points} teamId={team.id} onOpen={open} />
        </div>
        <NearestList data={map} />
      </>
    );

  return (
    <>
      <div className="page-title">
        <h1>Pool map</h1>
        {map && (
          <span className="muted" data-testid="pool-map-count">
            {map.adapters.length} active adapter{map.adapters.length === 1 ? "" : "s"}
            {map.encoderId ? ` · embeddings by ${map.encoderId}` : ""}
          </span>
        )}
      </div>
      <div className="toolbar">
        <label className="checkbox">
          <input type="checkbox" checked={includePublic} onChange={(e) => setIncludePublic(e.target.checked)} /> Include public adapters this team added
        </label>
        <LiveIndicator error={live.error} />
      </div>
      <AccessRevokedNotice error={live.error} onRetry={live.retry} />
      {body}
    </>
  );
}

function NearestList({ data }: { data: PoolMapData }) {
  const n = data.adapters.length;
  return (
    <details className="chart-data nearest-list">
      <summary>The adapters in map order, with their nearest neighbour</summary>
      <ol>
        {data.adapters.map((a, i) => {
          let best = -1;
          for (let j = 0; j < n; j++) if (j !== i && (best < 0 || data.similarity[i]![j]! > data.similarity[i]![best]!)) best = j;
          return (
            <li key={a.id}>
              <Link href={`/adapters/${a.id}`}>{a.name}</Link>
              {best >= 0 && (
                <span className="muted small">
                  {" "}
                  nearest: {data.adapters[best]!.name} ({data.similarity[i]![best]!.toFixed(3)})
                </span>
              )}
            </li>
          );
        })}
      </ol>
    </details>
  );
}
