"use client";
// The adapter pool: the team's adapters (and, on request, the other teams' public adapters the
// team added to its pool from the catalogue), searched, sorted and paged by cursor on the API
// (a cursor belongs to one order, so changing the order starts again at the first page). Live: pool events replace a changed row in place, and an
// adapter added or removed re-reads the page (its rows and count change).
import { useEffect, useRef, useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { useTeam } from "@/components/shell/team-context";
import { Pager } from "@/components/ui/pager";
import { useCursorPages } from "@/components/ui/use-cursor-pages";
import { useDebounced } from "@/components/ui/use-debounced";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { adapterOrders, SearchAndSort, SortHeader, type AdapterOrder } from "./adapter-order";
import { AdapterRow } from "./adapter-row";
import { AccessRevokedNotice, LiveIndicator } from "./live-status";
import { ADAPTER_ROW_FIELDS, type AdapterView } from "./adapter-view";
import { usePoolEvents, type PoolEvent } from "./pool-events";
import { useRecentRequests } from "./use-recent-requests";

const ADAPTERS = /* GraphQL */ `
  query Adapters($first: Int!, $after: String, $search: String, $includePublic: Boolean!, $orderBy: AdapterOrder!) {
    adapters(first: $first, after: $after, search: $search, includePublic: $includePublic, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { ${ADAPTER_ROW_FIELDS} } }
    }
  }
`;

interface AdaptersResult {
  adapters: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: AdapterView }[] };
}

const PAGE_SIZES = [25, 50, 100];

export function AdapterTable() {
  const { team } = useTeam();
  const [searchInput, setSearchInput] = useState("");
  const search = useDebounced(searchInput.trim());
  const [includePublic, setIncludePublic] = useState(false);
  const [pageSize, setPageSize] = useState(PAGE_SIZES[0]!);
  const [orderBy, setOrderBy] = useState<AdapterOrder>("NAME_ASC");
  const pages = useCursorPages(JSON.stringify([search, includePublic, orderBy, pageSize, team.id]));
  const page = pages.page;

  const q = useQuery<AdaptersResult>(ADAPTERS, { first: pageSize, after: pages.after, search: search || null, includePublic, orderBy });
  const conn = q.data?.adapters;
  const rows = conn?.edges.map((e) => e.node) ?? [];
  const recent = useRecentRequests();

  // Several events in a burst (a batch of uploads) cost one re-read.
  const { reload, patch } = q;
  const pending = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(pending.current), []);
  const reloadSoon = () => {
    clearTimeout(pending.current);
    pending.current = setTimeout(reload, 150);
  };
  const live = usePoolEvents(
    team.id,
    (e: PoolEvent) => {
      const updated = e.adapter;
      if (e.kind === "UPDATED" && updated) {
        patch((d) => ({
          adapters: { ...d.adapters, edges: d.adapters.edges.map((edge) => (edge.node.id === e.adapterId ? { ...edge, node: updated } : edge)) },
        }));
      } else reloadSoon();
    },
    reload,
  );

  return (
    <section>
      <div className="toolbar">
        <SearchAndSort id="adapter" searchLabel="Search adapters" search={searchInput} onSearch={setSearchInput} orderBy={orderBy} onOrder={setOrderBy} />
        <label className="checkbox">
          <input type="checkbox" checked={includePublic} onChange={(e) => setIncludePublic(e.target.checked)} /> Include public adapters this team added
        </label>
        <span className="muted" data-testid="adapter-count">
          {!conn ? "Loading…" : `${conn.totalCount} adapter${conn.totalCount === 1 ? "" : "s"}`}
        </span>
        <LiveIndicator error={live.error} />
      </div>
      <AccessRevokedNotice error={live.error} onRetry={live.retry} />
      {q.error ? (
        <ErrorState error={q.error} what="adapters" onRetry={q.reload} />
      ) : !conn ? (
        <LoadingState label="Loading adapters…" />
      ) : rows.length === 0 ? (
        <EmptyState
          title={
            search
              ? `No adapters match “${search}”.`
              : includePublic
                ? "No adapters in this team, and it added no public ones."
                : "No adapters in this team yet."
          }
          testId="adapters-empty"
        >
          A team&apos;s pool holds PEFT LoRA adapters for this base model, each with 10-20 sample inputs.
        </EmptyState>
      ) : (
        <>
          <div className={`table-wrap${q.loading ? " stale" : ""}`} aria-busy={q.loading}>
            <table className="cards-on-phone adapters">
              <caption className="visually-hidden">Adapters, sorted by {adapterOrders.find((o) => o.value === orderBy)!.label.toLowerCase()}</caption>
              <thead>
                <tr>
                  <SortHeader label="Name" orders={["NAME_ASC", "NAME_DESC"]} current={orderBy} onSort={setOrderBy} />
                  <th scope="col">Status</th>
                  <th scope="col">Visibility</th>
                  <th scope="col" className="num">
                    Version
                  </th>
                  <th scope="col" className="num">
                    Rank
                  </th>
                  <th scope="col">Target modules</th>
                  <th scope="col" className="num">
                    Size
                  </th>
                  <th scope="col" className="num" title="Generations of this team that used the adapter in the last 7 days">
                    Requests, 7 d
                  </th>
                  <SortHeader label="Updated" orders={["UPDATED_DESC", "UPDATED_ASC"]} current={orderBy} onSort={setOrderBy} />
                </tr>
              </thead>
              <tbody>
                {rows.map((a) => (
                  <AdapterRow key={a.id} adapter={a} teamId={team.id} recent={recent} />
                ))}
              </tbody>
            </table>
          </div>
          <div className="toolbar between">
            <Pager
              label="Adapter pages"
              page={page}
              pageSize={pageSize}
              shown={rows.length}
              total={conn.totalCount}
              hasNext={conn.pageInfo.hasNextPage}
              busy={q.loading}
              onPrevious={pages.previous}
              onNext={() => pages.next(conn.pageInfo.endCursor)}
            />
            <span className="inline">
              <label htmlFor="adapter-page-size">Per page</label>
              <select id="adapter-page-size" value={pageSize} onChange={(e) => setPageSize(Number(e.target.value))}>
                {PAGE_SIZES.map((n) => (
                  <option key={n}>{n}</option>
                ))}
              </select>
            </span>
          </div>
        </>
      )}
    </section>
  );
}
