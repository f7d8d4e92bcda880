// One adapter of the pool table; its name opens the adapter page. Public adapters of other
// teams name their team.
import Link from "next/link";
import { formatBytes, formatDate, formatDateTime } from "@/components/ui/format";
import type { AdapterView } from "./adapter-view";
import { StatusBadge, VisibilityBadge } from "./status-badge";

export function AdapterRow({ adapter: a, teamId }: { adapter: AdapterView; teamId: string }) {
  const foreign = a.team.id !== teamId;
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
      <td data-label="Rank" className={a.rank === null ? "num none" : "num"} title={a.alpha === null ? undefined : `alpha ${a.alpha}${a.scaling === "RSLORA" ? ", rsLoRA scaling" : ""}`}>
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
      <td data-label="Updated" className="nowrap" title={formatDateTime(a.updatedAt)}>
        {formatDate(a.updatedAt)}
      </td>
    </tr>
  );
}
