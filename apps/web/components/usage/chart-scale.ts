// Axis arithmetic for the usage charts: a "nice" value axis (steps of 1, 2 or 5 times a
// power of ten, starting at zero) and the labels of UTC time buckets.

export interface ValueAxis {
  max: number;
  ticks: number[];
}

/** An axis from 0 that covers `max` with about `count` evenly spaced, round ticks. */
export function valueAxis(max: number, count = 4): ValueAxis {
  const top = max > 0 && Number.isFinite(max) ? max : 1;
  const raw = top / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const axisMax = Math.ceil(top / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= axisMax + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return { max: axisMax, ticks };
}

export type Grain = "HOUR" | "DAY";

const dayFormat = new Intl.DateTimeFormat("en", { month: "short", day: "numeric", timeZone: "UTC" });
const hourFormat = new Intl.DateTimeFormat("en", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" });

/** A short tick label: the day at midnight or for daily buckets, else the hour. */
export function tickLabel(iso: string, grain: Grain): string {
  const d = new Date(iso);
  if (grain === "DAY" || d.getUTCHours() === 0) return dayFormat.format(d);
  return hourFormat.format(d);
}

/** The full name of a bucket, for read-outs and tables. */
export function bucketLabel(iso: string, grain: Grain): string {
  const d = new Date(iso);
  return grain === "DAY" ? `${dayFormat.format(d)} (UTC)` : `${dayFormat.format(d)}, ${hourFormat.format(d)} UTC`;
}

/** Show every `step`-th tick label so that labels of about `labelWidth` px never overlap. */
export function labelStep(buckets: number, width: number, labelWidth = 64): number {
  const fit = Math.max(1, Math.floor(width / labelWidth));
  return Math.max(1, Math.ceil(buckets / fit));
}

/** The span of a report: whole UTC days (the end day included) or hours (the end excluded). */
export function rangeLabel(fromIso: string, toIso: string, grain: Grain): string {
  const from = new Date(fromIso);
  const to = new Date(toIso);
  if (grain === "DAY") return `${dayFormat.format(from)} – ${dayFormat.format(new Date(to.getTime() - 1))} (UTC)`;
  return `${dayFormat.format(from)}, ${hourFormat.format(from)} – ${dayFormat.format(to)}, ${hourFormat.format(to)} UTC`;
}
