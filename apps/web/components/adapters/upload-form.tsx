"use client";
// Uploading a new adapter (MEMBER and above; PUBLIC needs adapter.publish, ADMIN and above):
// name, description, visibility, the samples and
// the files, checked here first and then by the API, whose refusal is shown beside the field
// it is about (the name for CONFLICT, the samples for SAMPLES_INVALID, the files for
// ADAPTER_INVALID with its hint, ...). A 201 hands the new (PENDING) adapter to `onUploaded`.
import { useId, useRef, useState, type FormEvent } from "react";
import { AdapterFilesInput } from "./adapter-files-input";
import { fileSelectionProblem } from "./adapter-files";
import { sampleProblems, samplesValid, MIN_SAMPLES } from "./samples";
import { SamplesEditor } from "./samples-editor";
import type { Visibility } from "./adapter-view";
import { VisibilitySelect } from "./visibility-select";
import { uploadAdapter, UploadError, type UploadedAdapter } from "./upload-client";
import { placeOf, uploadProblem, type UploadErrorPlace, type UploadProblem } from "./upload-errors";
import { UploadProblemView } from "./upload-problem";
import { UploadProgressBar } from "./upload-progress";
import { useUpload } from "./use-upload";

/** The API's rule for names (PoolService.ADAPTER_NAME). */
const NAME = /^[a-z0-9][a-z0-9._-]{0,62}[a-z0-9]$/;
const NAME_RULE = "2–64 lowercase letters, digits, “.”, “_” or “-”, starting and ending with a letter or digit.";

type Errors = Partial<Record<UploadErrorPlace, UploadProblem>>;

export function UploadForm({ mayPublish, onUploaded, onClose }: { mayPublish: boolean; onUploaded(a: UploadedAdapter): void; onClose(): void }) {
  const id = useId();
  const form = useRef<HTMLFormElement>(null);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("PRIVATE");
  const [samples, setSamples] = useState<string[]>(() => Array.from({ length: MIN_SAMPLES }, () => ""));
  const [files, setFiles] = useState<File[]>([]);
  const [attempted, setAttempted] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const upload = useUpload();

  const nameProblem = attempted && !NAME.test(name.trim()) ? (name.trim() ? `Not a valid name: ${NAME_RULE}` : "Give the adapter a name.") : null;
  const nameError = nameProblem ?? errors.name?.message;

  function clear(place: UploadErrorPlace) {
    setErrors((e) => (e[place] ? { ...e, [place]: undefined } : e));
  }

  function focusFirstProblem() {
    requestAnimationFrame(() => form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setAttempted(true);
    setErrors({});
    const checked = sampleProblems(samples);
    if (!NAME.test(name.trim()) || !samplesValid(checked) || fileSelectionProblem(files)) {
      focusFirstProblem();
      return;
    }
    const result = await upload.run((target, onProgress) =>
      uploadAdapter(target, { name: name.trim(), description: description.trim(), visibility, samples: checked.filled }, files, onProgress),
    );
    if (result instanceof UploadError) {
      if (result.code === "ABORTED") return;
      setErrors({ [placeOf(result)]: uploadProblem(result) });
      focusFirstProblem();
      return;
    }
    onUploaded(result);
  }

  return (
    <form ref={form} className="panel upload-form" aria-labelledby={`${id}-title`} onSubmit={(e) => void submit(e)} noValidate data-testid="upload-form">
      <div className="toolbar between-top">
        <h2 id={`${id}-title`}>Upload an adapter</h2>
        <button type="button" className="secondary small" onClick={onClose} disabled={upload.busy}>
          Close
        </button>
      </div>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={`${id}-name`}>Name</label>
          <input
            id={`${id}-name`}
            value={name}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => {
              setName(e.target.value);
              clear("name");
            }}
            aria-invalid={nameError ? true : undefined}
            aria-describedby={`${id}-name-help${nameError ? ` ${id}-name-error` : ""}`}
            disabled={upload.busy}
          />
          <span className="muted small" id={`${id}-name-help`}>
            {NAME_RULE}
          </span>
          {nameError && (
            <span className="error" id={`${id}-name-error`} role="alert" data-testid="name-error">
              {nameError}
            </span>
          )}
        </div>
        <div className="field">
          <label htmlFor={`${id}-visibility`}>Visibility</label>
          <VisibilitySelect id={`${id}-visibility`} value={visibility} onChange={setVisibility} mayPublish={mayPublish} disabled={upload.busy} />
        </div>
        <div className="field span-2">
          <label htmlFor={`${id}-description`}>Description</label>
          <textarea
            id={`${id}-description`}
            rows={2}
            maxLength={2000}
            value={description}
            onChange={(e) => {
              setDescription(e.target.value);
              clear("description");
            }}
            aria-invalid={errors.description ? true : undefined}
            aria-describedby={errors.description ? `${id}-description-error` : undefined}
            disabled={upload.busy}
          />
          {errors.description && (
            <span className="error" id={`${id}-description-error`} role="alert">
              {errors.description.message}
            </span>
          )}
        </div>
      </div>
      <SamplesEditor
        rows={samples}
        onChange={(rows) => {
          setSamples(rows);
          clear("samples");
        }}
        strict={attempted}
        apiError={errors.samples?.message}
        disabled={upload.busy}
      />
      <AdapterFilesInput
        files={files}
        onChange={(f) => {
          setFiles(f);
          clear("files");
        }}
        strict={attempted}
        apiError={errors.files}
        disabled={upload.busy}
      />
      {errors.form && <UploadProblemView testId="upload-error" problem={errors.form} />}
      {upload.progress ? (
        <UploadProgressBar progress={upload.progress} onCancel={upload.cancel} />
      ) : (
        <div className="actions-row">
          <button type="submit">Upload</button>
        </div>
      )}
    </form>
  );
}
