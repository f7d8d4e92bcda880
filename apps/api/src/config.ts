// Configuration from the environment, validated once at start (names: ../shared/docs/design.md).
import path from "node:path";
import { z } from "zod";
import { QuiverError } from "./errors.js";
import { repoRoot } from "./catalog/migrate.js";
import { parseWeighting, type Weighting } from "./retriever/mixture-weights.js";

const port = z.coerce.number().int().min(0).max(65535);
const quota = z.coerce
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1)
  .optional();
const bytesQuota = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional();

const schema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  QUIVER_DATA_DIR: z.string().min(1).default(".quiver"),
  PORT: port.default(4000),
  WEB_PORT: port.default(3000),
  HOST: z.string().min(1).default("127.0.0.1"),
  QUIVER_ADMIN_EMAIL: z.string().email().optional(),
  QUIVER_ADMIN_PASSWORD: z.string().min(12, "must be at least 12 characters").optional(),
  QUIVER_WEB: z.enum(["on", "off"]).default("on"),
  /** Largest request body accepted by /graphql and the JSON routes. */
  QUIVER_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  QUIVER_SESSION_TTL_HOURS: z.coerce
    .number()
    .positive()
    .default(24 * 7),
  /** GraphQL limits, checked before anything executes (docs/api.md, "Limits"). */
  QUIVER_GRAPHQL_MAX_TOKENS: z.coerce.number().int().min(100).max(1_000_000).default(2000),
  QUIVER_GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).max(1000).default(12),
  QUIVER_GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).max(100_000).default(30),
  QUIVER_GRAPHQL_MAX_DIRECTIVES: z.coerce.number().int().min(0).max(100_000).default(20),
  QUIVER_GRAPHQL_MAX_OPERATIONS: z.coerce.number().int().min(1).max(1000).default(1),
  QUIVER_GRAPHQL_MAX_COST: z.coerce.number().int().min(1).default(5000),
  QUIVER_GRAPHQL_MAX_K: z.coerce.number().int().min(1).max(10_000).default(50),
  QUIVER_GRAPHQL_MAX_FIRST: z.coerce.number().int().min(1).max(100_000).default(200),
  QUIVER_GRAPHQL_INTROSPECTION: z.enum(["on", "off"]).default("on"),
  /** When set, GET /metrics needs 'Authorization: Bearer <this token>'. */
  QUIVER_METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  /** Failed sign-ins allowed per client address (any emails) and per email (any addresses) in a window. */
  QUIVER_LOGIN_MAX_PER_ADDRESS: z.coerce.number().int().min(1).default(20),
  QUIVER_LOGIN_MAX_PER_EMAIL: z.coerce.number().int().min(1).default(20),
  QUIVER_LOGIN_WINDOW_MINUTES: z.coerce.number().positive().default(15),
  /** Password hashes (argon2) computed at once, and how many may wait; more answer RATE_LIMITED. */
  QUIVER_PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  QUIVER_PASSWORD_HASH_QUEUE: z.coerce.number().int().min(0).max(100_000).default(32),
  /** The served model: a Hugging Face Llama-family folder. Without it, no adapters can be added. */
  QUIVER_MODEL: z.string().min(1).optional(),
  /** The model zoo served when QUIVER_MODEL is unset: a folder with tasks.json, or "off". */
  QUIVER_ZOO: z.string().min(1).optional(),
  QUIVER_DEVICE: z.enum(["cpu", "cuda", "auto"]).default("auto"),
  /** Largest adapter weights file accepted, bytes (default 256 MiB). */
  QUIVER_MAX_ADAPTER_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(256 * 1024 * 1024),
  /** Most bytes an uploaded archive may expand to, every entry counted (default: twice QUIVER_MAX_ADAPTER_BYTES). */
  QUIVER_MAX_ARCHIVE_EXPANSION_BYTES: z.coerce.number().int().min(1024).optional(),
  /** Most adapter uploads one team may have in progress at once; more answer RATE_LIMITED. */
  QUIVER_UPLOADS_PER_TEAM: z.coerce.number().int().min(1).max(10_000).default(2),
  /** Most adapter uploads the server receives at once, all teams together; more answer RATE_LIMITED. */
  QUIVER_UPLOADS_PER_SERVER: z.coerce.number().int().min(1).max(10_000).default(8),
  /** Largest LoRA rank accepted. */
  QUIVER_MAX_RANK: z.coerce.number().int().min(1).max(1024).default(64),
  /** Most sequences in one engine step. */
  QUIVER_MAX_BATCH: z.coerce.number().int().min(1).max(1024).default(32),
  /** Most generation requests waiting; more answer OVERLOADED. */
  QUIVER_MAX_QUEUE: z.coerce.number().int().min(1).max(100_000).default(512),
  /** Weights of a retrieved mixture: "uniform" (1/k, the paper's) or "softmax:T" over the
   * retrieval scores (the default, softmax:0.05, weighs close matches up; see docs/benchmarks.md). */
  QUIVER_MIXTURE_WEIGHTING: z.string().default("softmax:0.05"),
  /** Origins allowed to call the API from a browser ("*" by default: auth is a bearer token, never a cookie). */
  QUIVER_CORS_ORIGINS: z.string().default("*"),
  /** The largest share of the generation queue one team may hold (of QUIVER_MAX_QUEUE; at least 1 request). */
  QUIVER_QUEUE_TEAM_SHARE: z.coerce.number().gt(0).max(1).default(0.5),
  /** On SIGTERM, how long running generations may go on finishing before they are ended (finish reason "shutdown"), seconds. */
  QUIVER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(3600).default(30),
  /**
   * Server settings until a server administrator first saves them (updateServerSettings):
   * the quotas a new team gets, the caps no team quota may exceed (unset: unlimited / no cap),
   * and whether any signed-in user may create teams.
   */
  QUIVER_QUOTA_DEFAULT_TOKENS_PER_DAY: quota,
  QUIVER_QUOTA_DEFAULT_REQUESTS_PER_MINUTE: quota,
  QUIVER_QUOTA_DEFAULT_CONCURRENT_GENERATIONS: quota,
  QUIVER_QUOTA_DEFAULT_STORAGE_BYTES: bytesQuota,
  QUIVER_QUOTA_MAX_TOKENS_PER_DAY: quota,
  QUIVER_QUOTA_MAX_REQUESTS_PER_MINUTE: quota,
  QUIVER_QUOTA_MAX_CONCURRENT_GENERATIONS: quota,
  QUIVER_QUOTA_MAX_STORAGE_BYTES: bytesQuota,
  QUIVER_TEAM_CREATION: z.enum(["on", "off"]).default("on"),
});

/** Quota names as the API spells them, with their environment suffix. */
const quotaEnv = [
  ["tokensPerDay", "TOKENS_PER_DAY"],
  ["requestsPerMinute", "REQUESTS_PER_MINUTE"],
  ["concurrentGenerations", "CONCURRENT_GENERATIONS"],
  ["storageBytes", "STORAGE_BYTES"],
] as const;

export interface ZooSetting {
  /** Absolute path of the zoo folder (tasks.json, model/, adapters/). */
  dir: string;
  /** Set through QUIVER_ZOO (a missing zoo is then an error), rather than the default. */
  explicit: boolean;
}

/** QUIVER_ZOO: unset means <repo root>/zoo, "off" means none, anything else a folder (relative to the working directory). */
export function zooSetting(value: string | undefined): ZooSetting | undefined {
  if (value === "off") return undefined;
  return value ? { dir: path.resolve(value), explicit: true } : { dir: path.join(repoRoot, "zoo"), explicit: false };
}

/** Team quotas; null means unlimited (or, for a cap, no cap). */
export interface QuotaValues {
  tokensPerDay: number | null;
  requestsPerMinute: number | null;
  concurrentGenerations: number | null;
  storageBytes: number | null;
}

/** The server settings the environment gives (until an administrator saves others). */
export interface ServerSettingsDefaults {
  defaultQuotas: QuotaValues;
  maxQuotas: QuotaValues;
  teamCreation: boolean;
}

export type Config = z.infer<typeof schema> & { dataDir: string; zoo: ZooSetting | undefined; weighting: Weighting; serverSettings: ServerSettingsDefaults };

function serverSettingsFrom(env: z.infer<typeof schema>): ServerSettingsDefaults {
  const read = (kind: "DEFAULT" | "MAX") =>
    Object.fromEntries(quotaEnv.map(([name, suffix]) => [name, env[`QUIVER_QUOTA_${kind}_${suffix}`] ?? null])) as unknown as QuotaValues;
  const settings = { defaultQuotas: read("DEFAULT"), maxQuotas: read("MAX"), teamCreation: env.QUIVER_TEAM_CREATION === "on" };
  for (const [name, suffix] of quotaEnv) {
    const cap = settings.maxQuotas[name];
    const value = settings.defaultQuotas[name];
    if (cap !== null && (value === null || value > cap)) {
      throw new QuiverError(
        "CONFIG_INVALID",
        `invalid configuration: QUIVER_QUOTA_DEFAULT_${suffix} (${value ?? "unlimited"}) exceeds QUIVER_QUOTA_MAX_${suffix} (${cap})`,
        {
          hint: `Set QUIVER_QUOTA_DEFAULT_${suffix} to at most ${cap}.`,
        },
      );
    }
  }
  return settings;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new QuiverError("CONFIG_INVALID", `invalid configuration: ${problems}`);
  }
  const dataDir = path.resolve(repoRoot, parsed.data.QUIVER_DATA_DIR);
  let weighting: Weighting;
  try {
    weighting = parseWeighting(parsed.data.QUIVER_MIXTURE_WEIGHTING);
  } catch (err) {
    throw new QuiverError("CONFIG_INVALID", `invalid configuration: QUIVER_MIXTURE_WEIGHTING: ${(err as Error).message}`);
  }
  return { ...parsed.data, dataDir, zoo: zooSetting(parsed.data.QUIVER_ZOO), weighting, serverSettings: serverSettingsFrom(parsed.data) };
}
