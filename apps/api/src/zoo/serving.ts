// The embedded default model: without QUIVER_MODEL, the server serves the model zoo
// (QUIVER_ZOO, default <repo root>/zoo) and registers the zoo's task adapters into the first
// team as PUBLIC adapters, through the pool service's upload path (the engine's validation,
// storage, catalog, embedding -> ACTIVE). A restart registers only what is missing.
import { randomUUID } from "node:crypto";
import { cp, mkdir, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config.js";
import { isQuiverError } from "../errors.js";
import { RetrieverError } from "../retriever/errors.js";
import type { AdapterStore } from "../catalog/adapters.js";
import type { TeamStore } from "../catalog/teams.js";
import type { PoolService } from "../pool/service.js";
import { inspectPeftFolder } from "../pool/peft.js";
import { CONFIG_FILE, WEIGHTS_FILE } from "../pool/limits.js";
import { readZooManifest, zooPath, type ZooManifest } from "./manifest.js";

export interface ServedModel {
  modelDir: string;
  /** Set when the model is the zoo's: its adapters are to be registered. */
  zoo?: { dir: string; manifest: ZooManifest };
}

/**
 * What to serve: QUIVER_MODEL when set; else the zoo's model when the zoo exists (a zoo set
 * through QUIVER_ZOO must exist; a broken manifest stops the start); else nothing.
 */
export function servedModel(config: Config): ServedModel | undefined {
  if (config.QUIVER_MODEL) return { modelDir: path.resolve(config.QUIVER_MODEL) };
  if (!config.zoo) return undefined;
  if (!config.zoo.explicit && !existsSync(path.join(config.zoo.dir, "tasks.json"))) return undefined;
  const manifest = readZooManifest(config.zoo.dir);
  return { modelDir: zooPath(config.zoo.dir, manifest.model), zoo: { dir: config.zoo.dir, manifest } };
}

export interface ZooRegistration {
  registered: number;
  /** Already in the team for this model (by name). */
  skipped: number;
  /** Of the skipped ones, those whose weights are not the zoo's (kept as they are). */
  differing: number;
  failed: number;
  /** Of the registered ones, those ACTIVE once their embeddings were stored. */
  active: number;
}

export interface ZooRegistrationDeps {
  pool: PoolService;
  adapters: AdapterStore;
  teams: TeamStore;
  baseModelId: string;
  /** Where adapter folders are staged before the pool takes them (the uploads' staging root). */
  stagingRoot: string;
  maxRank: number;
}

function reason(err: unknown): string {
  if (isQuiverError(err) || err instanceof RetrieverError) return `[${err.code}] ${err.message}`;
  const e = err as NodeJS.ErrnoException;
  return e.code ? `[${e.code}] ${e.message}` : String(e?.message ?? err);
}

/**
 * Registers every zoo task's adapter that the first team lacks for this model, one at a time;
 * a failure is logged with its reason and the next adapter goes on. Stops between adapters
 * when `signal` aborts. Resolves once the new adapters' embeddings are done.
 */
export async function registerZoo(
  deps: ZooRegistrationDeps,
  zoo: { dir: string; manifest: ZooManifest },
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<ZooRegistration> {
  const result: ZooRegistration = { registered: 0, skipped: 0, differing: 0, failed: 0, active: 0 };
  const team = await deps.teams.first();
  if (!team) {
    log("[quiver] zoo: there is no team to register its adapters into; skipped.");
    return result;
  }
  const present = new Map((await deps.adapters.forModel(team.id, deps.baseModelId)).map((a) => [a.name, a]));
  const tasks = zoo.manifest.tasks;
  log(`[quiver] zoo: ${tasks.length} task adapters from ${zoo.dir}; registering the missing ones into the team "${team.name}" in the background`);
  const added: string[] = [];
  for (const task of tasks) {
    if (signal?.aborted) break;
    const folder = zooPath(zoo.dir, task.adapter);
    const have = present.get(task.name);
    if (have) {
      result.skipped++;
      try {
        if (have.contentHash !== (await inspectPeftFolder(folder, { maxRank: deps.maxRank })).contentHash) result.differing++;
      } catch {
        result.differing++;
      }
      continue;
    }
    const staging = path.join(deps.stagingRoot, randomUUID());
    try {
      const stagingDir = path.join(staging, "adapter");
      await mkdir(stagingDir, { recursive: true });
      for (const f of [CONFIG_FILE, WEIGHTS_FILE]) await cp(path.join(folder, f), path.join(stagingDir, f));
      const adapter = await deps.pool.register({
        teamId: team.id,
        name: task.name,
        description: task.description,
        visibility: "PUBLIC",
        samples: task.samples,
        stagingDir,
        createdById: null,
        actor: {},
      });
      added.push(adapter.id);
      result.registered++;
      if (result.registered % 8 === 0) log(`[quiver] zoo: ${result.registered} adapters registered so far`);
    } catch (err) {
      result.failed++;
      log(`[quiver] zoo: adapter "${task.name}" was not registered: ${reason(err)}`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  await deps.pool.idle();
  const records = await deps.adapters.getForSystem(added);
  result.active = records.filter((r) => r.status === "ACTIVE").length;
  log(
    `[quiver] zoo: ${result.registered} adapters registered (${result.active} active), ${result.skipped} already present` +
      (result.differing ? ` (${result.differing} with weights other than the zoo's, kept; delete them to register the zoo's)` : "") +
      (result.failed ? `, ${result.failed} failed (see above)` : "") +
      (signal?.aborted ? ", stopped by shutdown" : ""),
  );
  return result;
}
