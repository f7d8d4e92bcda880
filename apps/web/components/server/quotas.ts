// Team quotas as the forms edit them: the four quotas of the API's TeamQuotas / QuotaInput
// (null: unlimited), their labels and units, the text a person types (empty: unlimited;
// storage in MiB) and the checks made before saving (whole numbers, within the API's range,
// and a default or team quota no higher than the server's maximum).
import { formatBytes, formatCount } from "@/components/ui/format";

export type QuotaKey = "tokensPerDay" | "requestsPerMinute" | "concurrentGenerations" | "storageBytes";
export type Quotas = Record<QuotaKey, number | null>;
/** What the person typed, per quota. */
export type QuotaDraft = Record<QuotaKey, string>;
export type QuotaErrors = Partial<Record<QuotaKey, string>>;

/** The GraphQL selection of a TeamQuotas object. */
export const QUOTA_FIELDS = "tokensPerDay requestsPerMinute concurrentGenerations storageBytes";

const MIB = 1024 * 1024;
/** The API's largest count (a 32-bit Int) and storage (a safe integer of bytes). */
const MAX_COUNT = 2 ** 31 - 1;

export const quotaInfo: Record<QuotaKey, { label: string; unit: string; help: string }> = {
  tokensPerDay: { label: "Tokens per day", unit: "tokens", help: "Prompt and generated tokens, per UTC day." },
  requestsPerMinute: { label: "Requests per minute", unit: "requests", help: "Generations started in any 60 seconds." },
  concurrentGenerations: { label: "Concurrent generations", unit: "generations", help: "Generations running at once." },
  storageBytes: { label: "Adapter storage (MiB)", unit: "MiB", help: "Weights of every adapter version the team keeps." },
};
export const quotaKeys = Object.keys(quotaInfo) as QuotaKey[];

export function toDraft(q: Quotas): QuotaDraft {
  const text = (k: QuotaKey) => {
    const v = q[k];
    if (v === null) return "";
    return k === "storageBytes" ? String(Number((v / MIB).toFixed(3))) : String(v);
  };
  return {
    tokensPerDay: text("tokensPerDay"),
    requestsPerMinute: text("requestsPerMinute"),
    concurrentGenerations: text("concurrentGenerations"),
    storageBytes: text("storageBytes"),
  };
}

/** The values typed (empty: null), or why one cannot be saved. */
export function parseDraft(d: QuotaDraft): { values: Quotas; errors: QuotaErrors } {
  const values = {} as Quotas;
  const errors: QuotaErrors = {};
  for (const k of quotaKeys) {
    const text = d[k].trim().replace(/[,_\s]/g, "");
    if (text === "") {
      values[k] = null;
      continue;
    }
    const n = Number(text);
    if (k === "storageBytes") {
      if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n)) errors[k] = "A size in MiB (such as 512 or 0.5), or empty for unlimited.";
      else if (n * MIB > Number.MAX_SAFE_INTEGER) errors[k] = "Too large.";
      else values[k] = Math.round(n * MIB);
    } else if (!/^\d+$/.test(text)) errors[k] = "A whole number of 0 or more, or empty for unlimited.";
    else if (n > MAX_COUNT) errors[k] = `At most ${formatCount(MAX_COUNT)}.`;
    else values[k] = n;
  }
  return { values, errors };
}

/** Quotas above the caps (null, unlimited, is above any cap): the message for each. */
export function aboveCaps(values: Quotas, caps: Quotas, what: string): QuotaErrors {
  const errors: QuotaErrors = {};
  for (const k of quotaKeys) {
    const cap = caps[k];
    const v = values[k];
    if (cap === null) continue;
    if (v === null) errors[k] = `Cannot be unlimited: the maximum ${what} is ${formatQuota(k, cap)}.`;
    else if (v > cap) errors[k] = `Above the maximum ${what} (${formatQuota(k, cap)}).`;
  }
  return errors;
}

export function formatQuota(k: QuotaKey, v: number | null): string {
  if (v === null) return "Unlimited";
  return k === "storageBytes" ? formatBytes(v) : `${formatCount(v)} ${quotaInfo[k].unit}`;
}

/** The quota a BAD_USER_INPUT's argument names ("input.maxQuotas.tokensPerDay" -> ["maxQuotas", "tokensPerDay"]). */
export function quotaArgument(argument: string | undefined): { group: string; key: QuotaKey } | undefined {
  const parts = argument?.replace(/^input\./, "").split(".");
  const key = parts?.at(-1) as QuotaKey | undefined;
  if (!parts || parts.length < 2 || !key || !(key in quotaInfo)) return undefined;
  return { group: parts.at(-2)!, key };
}
