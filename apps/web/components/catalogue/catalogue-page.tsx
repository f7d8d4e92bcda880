"use client";
// The catalogue of public adapters: every team's PUBLIC adapters, searched, sorted and paged
// on the API, each with its team, description, status and whether it is in this team's
// retrieval pool. Public adapters of other teams are opt-in: a team's ADMIN or OWNER
// (pool.manage) adds one to the pool here, after which retrieval, model "auto" and name
// lookups of this team may use it; the other roles see the catalogue without the controls.
import { useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { adapterOrders, SearchAndSort, SortHeader, type AdapterOrder } from "@/components/adapters/adapter-order";
import { can } from "@/components/auth/permissions";
import { useTeam } from "@/components/shell/team-context";
import { Pager } from "@/components/ui/pager";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { useCursorPages } from "@/components/ui/use-cursor-pages";
import { useDebounced } from "@/components/ui/use-debounced";
import { CatalogueRow } from "./catalogue-row";
import { PUBLIC_ADAPTERS, type CatalogueAdapter, type CatalogueResult } from "./catalogue-query";

const PAGE_SIZE = 25;

export function CataloguePage() {
  const { team } = useTeam();
  const mayManage = can(team, "pool.manage");
  const [searchInput, setSearchInput] = useState("");
  const search = useDebounced(searchInput.trim());
  const [orderBy, setOrderBy] = useState<AdapterOrder>("NAME_ASC");
  const pages = useCursorPages(JSON.stringify([search, orderBy, team.id]));
  const q = useQuery<CatalogueResult>(PUBLIC_ADAPTERS, { first: PAGE_SIZE, after: pages.after, search: search || null, orderBy });
  const conn = q.data?.publicAdapters;
  const rows = conn?.edges.map((e) => e.node) ?? [];

  const setInPool = (id: string, inPool: boolean) =>
    q.patch((d) => ({
      publicAdapters: { ...d.publicAdapters, edges: d.publicAdapters.edges.map((e) => (e.node.id === id ? { ...e, node: { ...e.node, inPool } } : e)) },
    }));

  return (
    <>
      <div className="page-title">
        <h1>Public adapters</h1>
        <span className="muted" data-testid="catalogue-count">
          {!conn ? "Loading…" : `${conn.totalCount} public adapter${conn.totalCount === 1 ? "" : "s"}`}
        </span>
      </div>
      <p className="muted intro" data-testid="catalogue-intro">
        Adapters that their teams published for others. Once one is in {team.name}&apos;s pool, this team&apos;s retrieval, model “auto” and name lookups may
        use it; the team that published it still maintains it.{" "}
        {mayManage ? "Add the ones this team should use." : "Admins and owners of the team choose which ones join its pool."}
      </p>
      <div className="toolbar">
        <SearchAndSort
          id="catalogue"
          searchLabel="Search public adapters"
          search={searchInput}
          onSearch={setSearchInput}
          orderBy={orderBy}
          onOrder={setOrderBy}
        />
      </div>
      {q.error ? (
        <ErrorState error={q.error} what="the public adapters" onRetry={q.reload} />
      ) : !conn ? (
        <LoadingState label="Loading public adapters…" />
      ) : rows.length === 0 ? (
        <EmptyState title={search ? `No public adapters match “${search}”.` : "No team has published an adapter yet."} testId="catalogue-empty">
          A team&apos;s admin publishes an adapter by setting its visibility to Public.
        </EmptyState>
      ) : (
        <>
          <div className={`table-wrap${q.loading ? " stale" : ""}`} aria-busy={q.loading}>
            <table className="cards-on-phone catalogue">
              <caption className="visually-hidden">Public adapters, sorted by {adapterOrders.find((o) => o.value === orderBy)!.label.toLowerCase()}</caption>
              <thead>
                <tr>
                  <SortHeader label="Name" orders={["NAME_ASC", "NAME_DESC"]} current={orderBy} onSort={setOrderBy} />
                  <th scope="col">Team</th>
                  <th scope="col">Status</th>
                  <th scope="col">In this team&apos;s pool</th>
                  <SortHeader label="Updated" orders={["UPDATED_DESC", "UPDATED_ASC"]} current={orderBy} onSort={setOrderBy} />
                </tr>
              </thead>
              <tbody>
                {rows.map((a: CatalogueAdapter) => (
                  <CatalogueRow key={a.id} adapter={a} teamId={team.id} mayManage={mayManage} onInPool={(inPool) => setInPool(a.id, inPool)} />
                ))}
              </tbody>
            </table>
          </div>
          <div className="toolbar between">
            <Pager
              label="Public adapter pages"
              page={pages.page}
              pageSize={PAGE_SIZE}
              shown={rows.length}
              total={conn.totalCount}
              hasNext={conn.pageInfo.hasNextPage}
              busy={q.loading}
              onPrevious={pages.previous}
              onNext={() => pages.next(conn.pageInfo.endCursor)}
            />
          </div>
        </>
      )}
    </>
  );
}
