"use client";
// The adapter pool page: the upload form for the roles that may write adapters (MEMBER and
// above; closing it discards what was typed), the adapters just uploaded with their live
// status, and the pool table.
import { useState } from "react";
import { can } from "@/components/auth/permissions";
import { useTeam } from "@/components/shell/team-context";
import { AdapterTable } from "./adapter-table";
import { RecentUploads } from "./recent-uploads";
import type { UploadedAdapter } from "./upload-client";
import { UploadForm } from "./upload-form";

export function AdapterPoolPage() {
  const { team } = useTeam();
  const mayUpload = can(team, "adapter.write");
  const [open, setOpen] = useState(false);
  const [uploads, setUploads] = useState<UploadedAdapter[]>([]);

  return (
    <>
      <div className="page-title">
        <h1>Adapter pool</h1>
        {mayUpload && !open && (
          <button type="button" onClick={() => setOpen(true)} aria-controls="upload-panel" aria-expanded={open}>
            Upload an adapter
          </button>
        )}
      </div>
      <div id="upload-panel">
        {mayUpload && open && (
          <UploadForm
            mayPublish={can(team, "adapter.publish")}
            onUploaded={(a) => {
              setUploads((u) => [a, ...u.filter((x) => x.id !== a.id)]);
              setOpen(false);
            }}
            onClose={() => setOpen(false)}
          />
        )}
      </div>
      <RecentUploads uploads={uploads} onDismiss={() => setUploads([])} />
      <AdapterTable />
    </>
  );
}
