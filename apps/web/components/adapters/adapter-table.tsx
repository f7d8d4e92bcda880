"use client";
// The team's adapters: searchable, paginated by cursor, read through GraphQL.
import { useCallback, useEffect, useState } from "react";
import { useApi } from "@/components/api/provider";

const ADAPTERS = /* GraphQL */ `
  query Adapters($first: Int!, $after: String, $search: String) {
    adapters(first: $first, after: $after, search: $search) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges {
        node { id name version visibility status rank targetModules byteSize updatedAt }
      }
    }
  }
`;

interface AdapterRow {
  id: string;
  name: string;
  version: number | null;
  visibility: string;
  status: string;
  rank: number | null;
  targetModules: string[];
  byteSize: number | null;
  updatedAt: string;
}

interface AdaptersResult {
  adapters: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: AdapterRow }[] };
}

function formatBytes(n: number | null): string {
  if (n === null) return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

const PAGE = 25;

export function AdapterTable() {
  const { request, teamId, token } = useApi();
  const [search, setSearch] = useState("");
  const [rows, setRows] = useState<AdapterRow[]>([]);
  const [total, setTotal] = useState(0);
  const [cursor, setCursor] = useState<string | null>(null);
  const [hasNext, setHasNext] = useState(false);
  const [state, setState] = useState<"loading" | "ready" | "error">("loading");
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (after: string | null) => {
      setState("loading");
      try {
        const d = await request<AdaptersResult>(ADAPTERS, { first: PAGE, after, search: search || null });
        setRows((prev) => (after ? [...prev, ...d.adapters.edges.map((e) => e.node)] : d.adapters.edges.map((e) => e.node)));
        setTotal(d.adapters.totalCount);
        setCursor(d.adapters.pageInfo.endCursor);
        setHasNext(d.adapters.pageInfo.hasNextPage);
        setState("ready");
      } catch (err) {
        setError((err as Error).message);
        setState("error");
      }
    },
    [request, search],
  );

  useEffect(() => {
    if (!token) return;
    const t = setTimeout(() => void load(null), 200);
    return () => clearTimeout(t);
  }, [load, token, teamId]);

  return (
    <section>
      <div className="toolbar">
        <input type="search" placeholder="Search adapters" aria-label="Search adapters" value={search} onChange={(e) => setSearch(e.target.value)} />
        <span className="muted" data-testid="adapter-count">
          {state === "loading" && rows.length === 0 ? "Loading…" : `${total} adapter${total === 1 ? "" : "s"}`}
        </span>
      </div>
      {state === "error" && (
        <p className="error" role="alert">
          Could not load adapters: {error}
        </p>
      )}
      {state !== "error" && rows.length === 0 && state === "ready" && (
        <div className="panel" data-testid="adapters-empty">
          <p>No adapters{search ? ` match “${search}”` : " in this team yet"}.</p>
          <p className="muted">Upload a PEFT LoRA adapter with 10-20 sample inputs to add it to the pool.</p>
        </div>
      )}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th>Version</th>
                <th>Visibility</th>
                <th>Rank</th>
                <th>Target modules</th>
                <th>Size</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => (
                <tr key={a.id}>
                  <td>{a.name}</td>
                  <td>
                    <span className={`badge ${a.status}`}>{a.status.toLowerCase()}</span>
                  </td>
                  <td>{a.version ?? "—"}</td>
                  <td>{a.visibility.toLowerCase()}</td>
                  <td>{a.rank ?? "—"}</td>
                  <td>{a.targetModules.join(", ") || "—"}</td>
                  <td>{formatBytes(a.byteSize)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {hasNext && (
        <p>
          <button className="secondary" onClick={() => void load(cursor)} disabled={state === "loading"}>
            Load more
          </button>
        </p>
      )}
    </section>
  );
}
