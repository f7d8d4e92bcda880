// The usage page's time ranges. Buckets are UTC hours or days (the API's grouping), so the
// presets are aligned to whole buckets and end with the current one: "last 24 h" is the
// current hour and the 23 before it.
import type { Grain } from "./chart-scale";

export type Preset = "24h" | "7d" | "30d" | "custom";

export interface UsageRange {
  from: Date;
  to: Date;
  groupBy: Grain;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The API's limits on one report: hourly at most 31 days, daily at most 366. */
export const maxDays: Record<Grain, number> = { HOUR: 31, DAY: 366 };

export const presets: { value: Preset; label: string; grain: Grain }[] = [
  { value: "24h", label: "Last 24 hours", grain: "HOUR" },
  { value: "7d", label: "Last 7 days", grain: "DAY" },
  { value: "30d", label: "Last 30 days", grain: "DAY" },
  { value: "custom", label: "Custom range", grain: "DAY" },
];

function floorTo(t: number, unit: number): number {
  return Math.floor(t / unit) * unit;
}

/** A preset range ending with the bucket that holds `now`. */
export function presetRange(preset: Exclude<Preset, "custom">, grain: Grain, now = Date.now()): UsageRange {
  const days = preset === "24h" ? 1 : preset === "7d" ? 7 : 30;
  const unit = grain === "HOUR" ? HOUR : DAY;
  const to = floorTo(now, unit) + unit;
  const from = grain === "HOUR" ? to - days * DAY : floorTo(now, DAY) - (days - 1) * DAY;
  return { from: new Date(from), to: new Date(to), groupBy: grain };
}

/** "YYYY-MM-DD" of a time, in UTC (the value of an <input type="date"> for that day). */
export function utcDate(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/** Whole UTC days from `fromDay` to `toDay`, both included; or why not. */
export function customRange(fromDay: string, toDay: string, grain: Grain): UsageRange | { problem: string } {
  const from = Date.parse(`${fromDay}T00:00:00Z`);
  const toStart = Date.parse(`${toDay}T00:00:00Z`);
  if (Number.isNaN(from) || Number.isNaN(toStart)) return { problem: "Choose a start and an end date." };
  if (toStart < from) return { problem: "The end date is before the start date." };
  const to = toStart + DAY;
  const days = (to - from) / DAY;
  if (days > maxDays[grain]) {
    return { problem: `${grain === "HOUR" ? "Hourly" : "Daily"} buckets cover at most ${maxDays[grain]} days; this range has ${days}.` };
  }
  return { from: new Date(from), to: new Date(to), groupBy: grain };
}

/** Whether hourly buckets are possible for a range of this many days. */
export function hourlyAllowed(preset: Preset, fromDay: string, toDay: string): boolean {
  if (preset !== "custom") return true; // at most 30 days
  const r = customRange(fromDay, toDay, "HOUR");
  return !("problem" in r);
}
