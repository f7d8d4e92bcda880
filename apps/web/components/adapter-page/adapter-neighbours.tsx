"use client";
// The adapters nearest to this one by retrieval embedding: its row of the pool map's cosine
// similarity matrix (the `poolMap` query, over the ACTIVE adapters this team can retrieve:
// its own and public ones). This is the same cosine retrieval ranks by, between the
// adapters' mean sample embeddings; `retrieve` with the samples would rank against one
// sample's embedding at a time instead.
import Link from "next/link";
import { useQuery } from "@/components/api/use-query";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";

const POOL_MAP_ROW = /* GraphQL */ `
  query AdapterNeighbours {
    poolMap(includePublic: true) { adapters { id name team { id name } } similarity }
  }
`;

interface PoolMapRow {
  poolMap: { adapters: { id: string; name: string; team: { id: string; name: string } }[]; similarity: number[][] };
}

const SHOWN = 5;

/** Mount it with a key of the adapter's status and version, so that it reads the map again when they change. */
export function AdapterNeighbours({ adapterId, status, teamId }: { adapterId: string; status: string; teamId: string }) {
  const q = useQuery<PoolMapRow>(POOL_MAP_ROW, {}, { skip: status !== "ACTIVE" });
  const map = q.data?.poolMap;
  const index = map?.adapters.findIndex((a) => a.id === adapterId) ?? -1;
  const neighbours =
    map && index >= 0
      ? map.adapters
          .map((a, j) => ({ adapter: a, similarity: map.similarity[index]![j]! }))
          .filter((n) => n.adapter.id !== adapterId)
          .sort((a, b) => b.similarity - a.similarity)
          .slice(0, SHOWN)
      : [];

  let body;
  if (status !== "ACTIVE") body = <p className="muted">Neighbours show once the adapter is active (its samples are embedded) and enabled.</p>;
  else if (q.error) body = <ErrorState error={q.error} what="the neighbours" onRetry={q.reload} />;
  else if (!map) body = <LoadingState label="Loading neighbours…" />;
  else if (index < 0) body = <p className="muted">The pool map covers the first 500 active adapters by name; this one is not among them.</p>;
  else if (!neighbours.length) body = <EmptyState title="No other active adapters to compare with yet." />;
  else
    body = (
      <ol className="neighbours" data-testid="neighbours">
        {neighbours.map((n) => (
          <li key={n.adapter.id}>
            <Link href={`/adapters/${n.adapter.id}`}>{n.adapter.name}</Link>
            {n.adapter.team.id !== teamId && <span className="muted small"> from {n.adapter.team.name}</span>}
            <span className="similarity">
              <meter min={-1} max={1} value={n.similarity} aria-label={`Cosine similarity to ${n.adapter.name}`} />
              <span className="num">{n.similarity.toFixed(3)}</span>
            </span>
          </li>
        ))}
      </ol>
    );

  return (
    <section className="panel" aria-labelledby="neighbours-title">
      <h2 id="neighbours-title">Nearest adapters</h2>
      <p className="muted small">Cosine similarity of the retrieval embeddings (the mean of each adapter&apos;s sample embeddings), as on the pool map.</p>
      {body}
    </section>
  );
}
