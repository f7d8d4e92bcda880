// The upload's progress bar: bytes sent, then (all sent) the wait while the API checks the
// adapter against the base model.
import { formatBytes } from "@/components/ui/format";
import type { UploadProgress } from "./upload-client";

export function UploadProgressBar({ progress, onCancel }: { progress: UploadProgress; onCancel(): void }) {
  const sent = progress.total > 0 && progress.loaded >= progress.total;
  const percent = progress.total ? Math.round((100 * progress.loaded) / progress.total) : 0;
  return (
    <div className="upload-progress" data-testid="upload-progress">
      <label>
        <span>{sent ? "Uploaded; checking the adapter against the base model…" : `Uploading… ${percent}%`}</span>
        <progress max={progress.total || 1} value={progress.loaded} aria-valuetext={`${percent}%`} />
      </label>
      <span className="muted small">
        {formatBytes(progress.loaded)} of {progress.total ? formatBytes(progress.total) : "…"}
      </span>
      <button type="button" className="secondary small" onClick={onCancel}>
        Cancel upload
      </button>
    </div>
  );
}
