"use client";
// The adapters nearest to this one by retrieval embedding (`Adapter.neighbours`: a pgvector
// search from the adapter's own embedding, over the ACTIVE adapters this team can retrieve:
// its own and public ones). The same cosine retrieval ranks by, between the adapters' mean
// sample embeddings.
import Link from "next/link";
import { useQuery } from "@/components/api/use-query";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";

const NEIGHBOURS = /* GraphQL */ `
  query AdapterNeighbours($id: ID!, $k: Int!) {
    adapter(id: $id) {
      neighbours(k: $k) {
        score
        adapter {
          id
          name
          team {
            id
            name
          }
        }
      }
    }
  }
`;

interface NeighboursResult {
  adapter: { neighbours: { score: number; adapter: { id: string; name: string; team: { id: string; name: string } } }[] } | null;
}

const SHOWN = 5;

/** Mount it with a key of the adapter's status and version, so that it reads the map again when they change. */
export function AdapterNeighbours({ adapterId, status, teamId }: { adapterId: string; status: string; teamId: string }) {
  const q = useQuery<NeighboursResult>(NEIGHBOURS, { id: adapterId, k: SHOWN }, { skip: status !== "ACTIVE" });
  const neighbours = (q.data?.adapter?.neighbours ?? []).map((n) => ({ adapter: n.adapter, similarity: n.score }));

  let body;
  if (status !== "ACTIVE") body = <p className="muted">Neighbours show once the adapter is active (its samples are embedded) and enabled.</p>;
  else if (q.error) body = <ErrorState error={q.error} what="the neighbours" onRetry={q.reload} />;
  else if (!q.data) body = <LoadingState label="Loading neighbours…" />;
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
