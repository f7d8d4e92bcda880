"use client";
// New weights for this adapter (MEMBER and above): the files only, sent to the API's HTTP
// upload (upload-client.ts); they become the next version, served once ACTIVE.
import { useState, type FormEvent } from "react";
import { AdapterFilesInput } from "@/components/adapters/adapter-files-input";
import { fileSelectionProblem } from "@/components/adapters/adapter-files";
import { uploadVersion, UploadError } from "@/components/adapters/upload-client";
import { uploadProblem, type UploadProblem } from "@/components/adapters/upload-errors";
import { UploadProblemView } from "@/components/adapters/upload-problem";
import { UploadProgressBar } from "@/components/adapters/upload-progress";
import { useUpload } from "@/components/adapters/use-upload";

export function NewVersionForm({ adapterId, onUploaded }: { adapterId: string; onUploaded(version: number | null): void }) {
  const [files, setFiles] = useState<File[]>([]);
  const [attempted, setAttempted] = useState(false);
  const [apiError, setApiError] = useState<UploadProblem>();
  const [formError, setFormError] = useState<UploadProblem>();
  const [inputKey, setInputKey] = useState(0);
  const upload = useUpload();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setAttempted(true);
    setApiError(undefined);
    setFormError(undefined);
    if (fileSelectionProblem(files)) return;
    const result = await upload.run((target, onProgress) => uploadVersion(target, adapterId, files, onProgress));
    if (result instanceof UploadError) {
      if (result.code === "ABORTED") return;
      if (["ADAPTER_INVALID", "PAYLOAD_TOO_LARGE", "QUOTA_EXCEEDED"].includes(result.code)) setApiError(uploadProblem(result));
      else setFormError(uploadProblem(result));
      return;
    }
    setFiles([]);
    setAttempted(false);
    setInputKey((k) => k + 1);
    onUploaded(result.version);
  }

  return (
    <form className="stack new-version" aria-label="Upload new weights" onSubmit={(e) => void submit(e)} noValidate data-testid="new-version-form">
      <h3>Upload new weights</h3>
      <AdapterFilesInput
        key={inputKey}
        label="Files of the new version"
        files={files}
        onChange={(f) => {
          setFiles(f);
          setApiError(undefined);
        }}
        strict={attempted}
        apiError={apiError}
        disabled={upload.busy}
      />
      {formError && <UploadProblemView testId="version-error" problem={formError} />}
      {upload.progress ? (
        <UploadProgressBar progress={upload.progress} onCancel={upload.cancel} />
      ) : (
        <div className="actions-row">
          <button type="submit" className="secondary">
            Upload as a new version
          </button>
        </div>
      )}
    </form>
  );
}
