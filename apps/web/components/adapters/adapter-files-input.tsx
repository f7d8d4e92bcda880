"use client";
// The file part of an upload: a labelled file input (several files at once, or an archive),
// the chosen files with their sizes, and the selection's or the API's problem beside it.
import { useId } from "react";
import { formatBytes } from "@/components/ui/format";
import { CONFIG_FILE, fileSelectionProblem, WEIGHTS_FILE } from "./adapter-files";
import { UploadProblemView } from "./upload-problem";
import type { UploadProblem } from "./upload-errors";

interface Props {
  files: File[];
  onChange(files: File[]): void;
  /** Show the selection's problem (after a save was attempted, or once files were chosen). */
  strict: boolean;
  /** The API's refusal of the files (ADAPTER_INVALID, PAYLOAD_TOO_LARGE, QUOTA_EXCEEDED), with its hint. */
  apiError?: UploadProblem;
  disabled?: boolean;
  label?: string;
}

export function AdapterFilesInput({ files, onChange, strict, apiError, disabled, label = "Adapter files" }: Props) {
  const id = useId();
  const problem = strict || files.length ? fileSelectionProblem(files) : null;
  const describedBy = [`${id}-help`, problem || apiError ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div className="field files-field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="file"
        multiple
        accept=".json,.safetensors,.zip,.tar,.gz,.tgz"
        disabled={disabled}
        aria-invalid={problem || apiError ? true : undefined}
        aria-describedby={describedBy}
        onChange={(e) => onChange(Array.from(e.target.files ?? []))}
      />
      <span className="muted small" id={`${id}-help`}>
        {CONFIG_FILE} and {WEIGHTS_FILE} (select both), or one .zip, .tar or .tar.gz archive holding them.
      </span>
      {files.length > 0 && (
        <ul className="file-list" aria-label="Chosen files">
          {files.map((f) => (
            <li key={`${f.name}-${f.size}`}>
              <code>{f.name}</code> <span className="muted small">{formatBytes(f.size)}</span>
            </li>
          ))}
        </ul>
      )}
      {(problem || apiError) && <UploadProblemView id={`${id}-error`} testId="files-error" problem={problem ? { message: problem } : apiError!} />}
    </div>
  );
}
