"use client";
// The samples editor: 10-20 distinct inputs, one per row, with the count and each row's
// problem beside it as the user types (a repeat, too long). Empty rows are not sent; once a
// save was attempted with too few samples, the first empty row is marked for focus. Pasting
// several lines into a row adds one row per line. `apiError` is the API's refusal of the
// whole list (SAMPLES_INVALID), shown under it.
import { useId, type ClipboardEvent } from "react";
import { MAX_SAMPLES, MIN_SAMPLES, sampleProblems, splitLines } from "./samples";

interface Props {
  rows: string[];
  onChange(rows: string[]): void;
  /** A save was attempted: the count's problem shows as an error. */
  strict: boolean;
  apiError?: string;
  disabled?: boolean;
  legend?: string;
}

export function SamplesEditor({ rows, onChange, strict, apiError, disabled, legend = "Sample inputs" }: Props) {
  const base = useId();
  const problems = sampleProblems(rows);
  const countId = `${base}-count`;
  const filled = problems.filled.length;
  const countError = !!problems.count && (strict || filled > MAX_SAMPLES);
  const firstEmpty = countError && filled < MAX_SAMPLES ? rows.findIndex((r) => !r.trim()) : -1;

  function set(i: number, value: string) {
    onChange(rows.map((r, j) => (j === i ? value : r)));
  }

  function paste(i: number, e: ClipboardEvent<HTMLInputElement>) {
    const lines = splitLines(e.clipboardData.getData("text"));
    if (lines.length < 2) return;
    e.preventDefault();
    // The first line goes into this row (after its text, if any), the rest follow it; empty
    // rows are dropped, so pasting twelve lines into a fresh form gives twelve rows.
    const here = rows[i]!.trim() ? [rows[i]!, ...lines] : lines;
    const next = [...rows.slice(0, i), ...here, ...rows.slice(i + 1)].filter((r) => r.trim());
    onChange(next);
  }

  return (
    <fieldset className="samples" aria-describedby={countId} disabled={disabled}>
      <legend>{legend}</legend>
      <p className="muted small">
        {MIN_SAMPLES}–{MAX_SAMPLES} distinct examples of the inputs this adapter is for, one per row; their mean embedding is what retrieval matches. Pasting
        several lines adds one row per line.
      </p>
      <ol className="sample-rows">
        {rows.map((value, i) => {
          const problem = problems.rows.get(i);
          const problemId = `${base}-p${i}`;
          const invalid = !!problem || i === firstEmpty;
          return (
            <li key={i} className={problem ? "invalid" : undefined}>
              <span className="sample-index muted" aria-hidden="true">
                {i + 1}
              </span>
              <div className="sample-input">
                <input
                  type="text"
                  aria-label={`Sample ${i + 1}`}
                  value={value}
                  onChange={(e) => set(i, e.target.value)}
                  onPaste={(e) => paste(i, e)}
                  aria-invalid={invalid ? true : undefined}
                  aria-describedby={problem ? problemId : i === firstEmpty ? countId : undefined}
                />
                {problem && (
                  <span className="error small" id={problemId}>
                    {problem}
                  </span>
                )}
              </div>
              <button
                type="button"
                className="secondary small"
                aria-label={`Remove sample ${i + 1}`}
                onClick={() => onChange(rows.filter((_, j) => j !== i))}
                disabled={rows.length <= 1}
              >
                <span className="remove-text">Remove</span>
                <span className="remove-icon" aria-hidden="true">
                  ×
                </span>
              </button>
            </li>
          );
        })}
      </ol>
      <div className="toolbar samples-foot">
        <button type="button" className="secondary small" onClick={() => onChange([...rows, ""])} disabled={rows.length >= MAX_SAMPLES}>
          Add a sample
        </button>
        <span id={countId} className={countError ? "error small" : "muted small"} data-testid="samples-count" aria-live="polite">
          {filled} of {MIN_SAMPLES}–{MAX_SAMPLES} samples{problems.count ? `. ${problems.count}` : "."}
        </span>
      </div>
      {apiError && (
        <p className="error" role="alert" data-testid="samples-error">
          {apiError}
        </p>
      )}
    </fieldset>
  );
}
