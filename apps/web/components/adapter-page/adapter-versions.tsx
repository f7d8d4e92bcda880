"use client";
// Every version of the adapter's weights, newest first, with its status and LoRA shape; the
// served one is marked. MEMBER and above may upload new weights as the next version.
import { useState } from "react";
import { StatusBadge } from "@/components/adapters/status-badge";
import { formatBytes, formatDateTime } from "@/components/ui/format";
import type { AdapterDetail } from "./adapter-detail";
import { NewVersionForm } from "./new-version-form";

export function AdapterVersions({ adapter, writable, onChanged }: { adapter: AdapterDetail; writable: boolean; onChanged(): void }) {
  const [uploaded, setUploaded] = useState<number | null>(null);
  return (
    <section className="panel" aria-labelledby="versions-title" data-testid="adapter-versions">
      <h2 id="versions-title">Versions ({adapter.versions.length})</h2>
      <div className="table-wrap">
        <table className="cards-on-phone">
          <caption className="visually-hidden">Versions of {adapter.name}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Rank
              </th>
              <th scope="col">Modules</th>
              <th scope="col" className="num">
                Size
              </th>
              <th scope="col">Hash</th>
              <th scope="col">Uploaded</th>
            </tr>
          </thead>
          <tbody>
            {adapter.versions.map((v) => (
              <tr key={v.id} data-testid="version-row" data-version={v.version}>
                <td data-label="Version">
                  <div>
                    <span className="strong">v{v.version}</span>
                    {v.version === adapter.version && <span className="badge">served</span>}
                  </div>
                </td>
                <td data-label="Status">
                  <div>
                    <StatusBadge status={v.status} reason={v.statusReason} />
                  </div>
                </td>
                <td data-label="Rank" className="num" title={`alpha ${v.alpha}${v.scaling === "RSLORA" ? ", rsLoRA" : ""}`}>
                  {v.rank}
                </td>
                <td data-label="Modules">{v.targetModules.join(", ")}</td>
                <td data-label="Size" className="num" title={v.dtype}>
                  {formatBytes(v.byteSize)}
                </td>
                <td data-label="Hash">
                  <code title={v.contentHash}>{v.contentHash.slice(0, 12)}</code>
                </td>
                <td data-label="Uploaded" className="nowrap">
                  {formatDateTime(v.createdAt)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {uploaded !== null && (
        <p className="muted small" role="status">
          Version {uploaded} uploaded.
        </p>
      )}
      {writable && (
        <NewVersionForm
          adapterId={adapter.id}
          onUploaded={(v) => {
            setUploaded(v);
            onChanged();
          }}
        />
      )}
    </section>
  );
}
