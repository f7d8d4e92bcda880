"use client";
// One public adapter of the catalogue: name (opening the adapter page) and description, its
// team, status, and whether it is in this team's pool, with "Add to pool" / "Remove from
// pool" for pool.manage. The team's own public adapters are always in its pool.
import Link from "next/link";
import { useMutation } from "@/components/api/use-mutation";
import { StatusBadge } from "@/components/adapters/status-badge";
import { formatDate, formatDateTime } from "@/components/ui/format";
import { InlineError } from "@/components/ui/states";
import { ADD_TO_POOL, REMOVE_FROM_POOL, type CatalogueAdapter } from "./catalogue-query";

interface Props {
  adapter: CatalogueAdapter;
  teamId: string;
  mayManage: boolean;
  onInPool(inPool: boolean): void;
}

export function CatalogueRow({ adapter: a, teamId, mayManage, onInPool }: Props) {
  const own = a.team.id === teamId;
  const add = useMutation<{ addPublicAdapter: { id: string; inPool: boolean } | null }>(ADD_TO_POOL);
  const remove = useMutation<{ removePublicAdapter: boolean }>(REMOVE_FROM_POOL);
  const busy = add.busy || remove.busy;

  async function toggle() {
    if (a.inPool) {
      add.reset();
      if (await remove.run({ adapterId: a.id, teamId })) onInPool(false);
    } else {
      remove.reset();
      const r = await add.run({ adapterId: a.id, teamId });
      if (r?.addPublicAdapter) onInPool(r.addPublicAdapter.inPool);
    }
  }

  return (
    <tr data-testid="catalogue-row" data-name={a.name} data-in-pool={a.inPool}>
      <td data-label="Name">
        <div>
          <Link className="strong" href={`/adapters/${a.id}`}>
            {a.name}
          </Link>
          {a.description ? <span className="muted block small clamp">{a.description}</span> : <span className="muted block small">No description.</span>}
        </div>
      </td>
      <td data-label="Team">{own ? <span>{a.team.name} (this team)</span> : a.team.name}</td>
      <td data-label="Status">
        <div>
          <StatusBadge status={a.status} reason={a.statusReason} />
        </div>
      </td>
      <td data-label="In this team's pool" className="pool-cell">
        <div>
          {own ? (
            <span className="muted small">This team&apos;s own adapter</span>
          ) : (
            <span className={`badge pool ${a.inPool ? "in" : "out"}`} data-testid="in-pool">
              {a.inPool ? "In pool" : "Not in pool"}
            </span>
          )}
          {!own && mayManage && (
            <button
              type="button"
              className={a.inPool ? "secondary small" : "small"}
              onClick={() => void toggle()}
              disabled={busy}
              aria-label={`${a.inPool ? "Remove from pool" : "Add to pool"}: ${a.name}`}
            >
              {busy ? (a.inPool ? "Removing…" : "Adding…") : a.inPool ? "Remove from pool" : "Add to pool"}
            </button>
          )}
          <InlineError error={add.error ?? remove.error} />
        </div>
      </td>
      <td data-label="Updated" className="nowrap" title={formatDateTime(a.updatedAt)}>
        {formatDate(a.updatedAt)}
      </td>
    </tr>
  );
}
