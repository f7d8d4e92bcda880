"use client";
// The usage filters: range (presets or whole UTC days), bucket size, adapter, API key and
// strategy. The adapter and key choices are those with traffic in the range.
import type { Grain } from "./chart-scale";
import type { Strategy, UsageResult } from "./usage-query";
import { strategies } from "./usage-query";
import { hourlyAllowed, presets, type Preset } from "./usage-range";

export interface UsageFilterValues {
  preset: Preset;
  grain: Grain;
  fromDay: string;
  toDay: string;
  adapterId: string;
  apiKeyId: string;
  strategy: Strategy | "";
}

interface Props {
  values: UsageFilterValues;
  options: UsageResult["options"] | undefined;
  /** Names of the chosen adapter and key, kept while the options of a new range load. */
  labels: { adapter?: string; apiKey?: string };
  onChange(next: Partial<UsageFilterValues>): void;
  onRefresh(): void;
  busy: boolean;
}

export function UsageFilters({ values, options, labels, onChange, onRefresh, busy }: Props) {
  const adapters = (options?.topAdapters ?? []).filter((a): a is { adapterId: string; name: string } => a.adapterId !== null);
  const keys = options?.topApiKeys ?? [];
  const hourly = hourlyAllowed(values.preset, values.fromDay, values.toDay);
  return (
    <form className="filters" aria-label="Usage filters" onSubmit={(e) => e.preventDefault()}>
      <div className="field">
        <label htmlFor="usage-range">Range</label>
        <select
          id="usage-range"
          value={values.preset}
          onChange={(e) => {
            const preset = e.target.value as Preset;
            onChange({ preset, grain: presets.find((p) => p.value === preset)!.grain });
          }}
        >
          {presets.map((p) => (
            <option key={p.value} value={p.value}>
              {p.label}
            </option>
          ))}
        </select>
      </div>
      {values.preset === "custom" && (
        <>
          <div className="field">
            <label htmlFor="usage-from">From (UTC)</label>
            <input id="usage-from" type="date" required value={values.fromDay} max={values.toDay} onChange={(e) => onChange({ fromDay: e.target.value })} />
          </div>
          <div className="field">
            <label htmlFor="usage-to">To (UTC)</label>
            <input id="usage-to" type="date" required value={values.toDay} min={values.fromDay} onChange={(e) => onChange({ toDay: e.target.value })} />
          </div>
        </>
      )}
      <div className="field">
        <label htmlFor="usage-grain">Buckets</label>
        <select id="usage-grain" value={values.grain} onChange={(e) => onChange({ grain: e.target.value as Grain })}>
          <option value="HOUR" disabled={!hourly}>
            Hourly
          </option>
          <option value="DAY">Daily</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor="usage-adapter">Adapter</label>
        <select id="usage-adapter" value={values.adapterId} onChange={(e) => onChange({ adapterId: e.target.value })}>
          <option value="">All adapters</option>
          {values.adapterId && !adapters.some((a) => a.adapterId === values.adapterId) && (
            <option value={values.adapterId}>{labels.adapter ?? "Chosen adapter"}</option>
          )}
          {adapters.map((a) => (
            <option key={a.adapterId} value={a.adapterId}>
              {a.name}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="usage-key">API key</label>
        <select id="usage-key" value={values.apiKeyId} onChange={(e) => onChange({ apiKeyId: e.target.value })}>
          <option value="">All keys and users</option>
          {values.apiKeyId && !keys.some((k) => k.apiKeyId === values.apiKeyId) && <option value={values.apiKeyId}>{labels.apiKey ?? "Chosen key"}</option>}
          {keys.map((k) => (
            <option key={k.apiKeyId} value={k.apiKeyId}>
              {k.name} ({k.prefix})
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="usage-strategy">Strategy</label>
        <select id="usage-strategy" value={values.strategy} onChange={(e) => onChange({ strategy: e.target.value as Strategy | "" })}>
          <option value="">All strategies</option>
          {strategies.map((s) => (
            <option key={s} value={s}>
              {s.toLowerCase()}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <button type="button" className="secondary" onClick={onRefresh} disabled={busy}>
          {busy ? "Refreshing…" : "Refresh"}
        </button>
      </div>
    </form>
  );
}
