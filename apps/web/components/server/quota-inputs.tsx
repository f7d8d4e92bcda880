"use client";
// The four quota fields of one group (a server's defaults or maximums, a team's quotas) as a
// fieldset: a text field each (empty: unlimited), its help, and its problem beside it.
import { quotaInfo, quotaKeys, type QuotaDraft, type QuotaErrors, type QuotaKey } from "./quotas";

interface Props {
  /** Unique per page: the fields' ids start with it. */
  id: string;
  legend: string;
  draft: QuotaDraft;
  errors: QuotaErrors;
  onChange(key: QuotaKey, text: string): void;
  disabled?: boolean;
  /** A line under each field (the cap that applies), when the form has one. */
  note?: (key: QuotaKey) => string | undefined;
}

export function QuotaInputs({ id, legend, draft, errors, onChange, disabled, note }: Props) {
  return (
    <fieldset className="quota-inputs" data-testid={id}>
      <legend>{legend}</legend>
      {quotaKeys.map((k) => {
        const field = `${id}-${k}`;
        const error = errors[k];
        const extra = note?.(k);
        return (
          <div className="field" key={k}>
            <label htmlFor={field}>{quotaInfo[k].label}</label>
            <input
              id={field}
              inputMode={k === "storageBytes" ? "decimal" : "numeric"}
              autoComplete="off"
              placeholder="Unlimited"
              value={draft[k]}
              disabled={disabled}
              onChange={(e) => onChange(k, e.target.value)}
              aria-invalid={error ? true : undefined}
              aria-describedby={`${field}-help${error ? ` ${field}-error` : ""}`}
            />
            <span className="muted small" id={`${field}-help`}>
              {quotaInfo[k].help} Empty: unlimited.{extra ? ` ${extra}` : ""}
            </span>
            {error && (
              <span className="error" id={`${field}-error`} role="alert" data-testid="quota-error">
                {error}
              </span>
            )}
          </div>
        );
      })}
    </fieldset>
  );
}
