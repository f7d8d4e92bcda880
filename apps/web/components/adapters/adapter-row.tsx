// One adapter of the pool table; its name opens the adapter page. Public adapters of other
// teams name their team.
import Link from "next/link";
import { formatBytes, formatCount, formatDate, formatDateTime } from "@/components/ui/format";
import type { AdapterView } from "./adapter-view";
import type { RecentRequests } from "./use-recent-requests";
import { StatusBadge, VisibilityBadge } from "./status-badge";

export function AdapterRow({ adapter: a, teamId, recent }: { adapter: AdapterView; teamId: string; recent: RecentRequests | undefined }) {
  const foreign = a.team.id !== teamId;
  const requests = recent?.counts.get(a.id) ?? (recent?.complete ? 0 : undefined);
  return (
    <tr data-testid="adapter-row" data-name={a.name} data-status={a.status}>
      <td data-label="Name">
        <div>
          <Link className="strong" href={`/adapters/${a.id}`}>
            {a.name}
          </Link>
          {foreign && <span className="muted block small">from {a.team.name}</span>}
          {a.description && <span className="muted block small clamp">{a.description}</span>}
        </div>
      </td>
      <td data-label="Status">
        <div>
          <StatusBadge status={a.status} reason={a.statusReason} />
        </div>
      </td>
      <td data-label="Visibility">
        <VisibilityBadge visibility={a.visibility} />
      </td>
      <td data-label="Version" className={a.version === null ? "num none" : "num"}>
        {a.version === null ? "—" : `v${a.version}`}
      </td>
      <td
        data-label="Rank"
        className={a.rank === null ? "num none" : "num"}
        title={a.alpha === null ? undefined : `alpha ${a.alpha}${a.scaling === "RSLORA" ? ", rsLoRA scaling" : ""}`}
      >
        {a.rank ?? "—"}
      </td>
      <td data-label="Target modules" className={a.targetModules.length ? undefined : "none"}>
        {a.targetModules.length ? (
          <ul className="chips" aria-label={`Target modules of ${a.name}`}>
            {a.targetModules.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        ) : (
          "—"
        )}
      </td>
      <td data-label="Size" className={a.byteSize === null ? "num none" : "num"} title={a.dtype ?? undefined}>
        {formatBytes(a.byteSize)}
      </td>
      <td
        data-label="Requests, 7 days"
        className="num"
        title={recent && requests === undefined ? `not among the ${recent.counts.size} most used adapters: at most ${recent.otherwiseAtMost}` : undefined}
      >
        {requests !== undefined ? formatCount(requests) : recent ? `≤ ${formatCount(recent.otherwiseAtMost)}` : "…"}
      </td>
      <td data-label="Updated" className="nowrap" title={formatDateTime(a.updatedAt)}>
        {formatDate(a.updatedAt)}
      </td>
    </tr>
  );
}
