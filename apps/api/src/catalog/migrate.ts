// Offline migrations through Prisma's WASM schema engine.
//
// The Prisma CLI needs a native schema engine that it downloads at every command, which is
// impossible offline. The WASM build of the same engine, driven with a driver adapter, does
// what `prisma migrate deploy` does (writes `_prisma_migrations` with the same checksums) and
// diffs schemas for new migrations. Layout, compatible with the ordinary CLI:
//   prisma/migrations/migration_lock.toml
//   prisma/migrations/<stamp>_<name>/migration.sql
//   prisma/migrations/<stamp>_<name>/schema.prisma   (the schema this migration brings you to;
//                                                     the next `db diff` starts from it)
// Diffing schema to schema (not database to schema) keeps hand-written SQL that Prisma
// cannot model, such as the pgvector HNSW indexes, out of the engine's sight.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as wasmBindings from "@prisma/schema-engine-wasm/schema_engine_bg";
import { bindMigrationAwareSqlAdapterFactory, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { QuiverError } from "../errors.js";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../../..");
export const prismaDir = path.join(repoRoot, "prisma");
export const migrationsDir = path.join(prismaDir, "migrations");

type Bindings = typeof wasmBindings;

// The WebAssembly global, typed locally (Node's types for it need the DOM library).
declare const WebAssembly: {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: Record<string, Record<string, unknown>>): Promise<{ exports: Record<string, unknown> }>;
};
let bindingsReady: Promise<Bindings> | undefined;

/** Instantiates the schema engine's WASM module once per process. */
function loadBindings(): Promise<Bindings> {
  bindingsReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve("@prisma/schema-engine-wasm"));
    const module = await WebAssembly.compile(readFileSync(path.join(dir, "schema_engine_bg.wasm")));
    // The engine arms timers (10 s timeouts) that it never clears; unref them so that they
    // never hold a finished process open. Everything else is the package's own glue.
    const imports: Record<string, unknown> = { ...wasmBindings };
    for (const name of Object.keys(imports).filter((k) => k.startsWith("__wbg_setTimeout_"))) {
      imports[name] = (callback: () => void, ms: number) => setTimeout(callback, ms >>> 0).unref();
    }
    const instance = await WebAssembly.instantiate(module, { "./schema_engine_bg.js": imports });
    wasmBindings.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start: () => void }).__wbindgen_start();
    return wasmBindings;
  })();
  return bindingsReady;
}

const noFilters = { externalTables: [] as string[], externalEnums: [] as string[] };

export interface MigrationDir {
  name: string;
  sql: string;
  /** The schema after this migration (absent in hand-made migrations). */
  schema?: string;
}

export function listMigrations(dir = migrationsDir): MigrationDir[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const schemaFile = path.join(dir, name, "schema.prisma");
      return {
        name,
        sql: readFileSync(path.join(dir, name, "migration.sql"), "utf8"),
        ...(existsSync(schemaFile) ? { schema: readFileSync(schemaFile, "utf8") } : {}),
      };
    });
}

async function withEngine<T>(
  factory: SqlMigrationAwareDriverAdapterFactory,
  schema: string,
  use: (engine: wasmBindings.SchemaEngine) => Promise<T>,
): Promise<T> {
  const bindings = await loadBindings();
  // The engine never disposes the connections it opens (a pg pool would idle on for its
  // timeout and hold the process open), so track them and dispose them here.
  const opened: SqlDriverAdapter[] = [];
  const track = (adapter: SqlDriverAdapter) => (opened.push(adapter), adapter);
  const tracking: SqlMigrationAwareDriverAdapterFactory = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => track(await factory.connect()),
    connectToShadowDb: async () => track(await factory.connectToShadowDb()),
  };
  try {
    const engine = await bindings.SchemaEngine.new({ datamodels: [["schema.prisma", schema]] }, () => {}, bindMigrationAwareSqlAdapterFactory(tracking));
    try {
      return await use(engine);
    } finally {
      engine.free();
    }
  } catch (err) {
    const detail = (err as Error).message ?? String(err);
    throw new QuiverError("MIGRATION_FAILED", `database migration failed: ${detail}`, { cause: err });
  } finally {
    await Promise.allSettled(opened.map((a) => a.dispose()));
  }
}

/** Applies every pending migration (what `prisma migrate deploy` does); returns their names. */
export async function applyMigrations(factory: SqlMigrationAwareDriverAdapterFactory, dir = migrationsDir): Promise<string[]> {
  const migrations = listMigrations(dir);
  if (migrations.length === 0) throw new QuiverError("MIGRATION_FAILED", `no migrations found in ${dir}`);
  const lockPath = path.join(dir, "migration_lock.toml");
  const schema = readFileSync(path.join(prismaDir, "schema.prisma"), "utf8");
  return withEngine(factory, schema, async (engine) => {
    const out = await engine.applyMigrations({
      migrationsList: {
        baseDir: dir,
        lockfile: { path: "migration_lock.toml", content: existsSync(lockPath) ? readFileSync(lockPath, "utf8") : null },
        shadowDbInitScript: "",
        migrationDirectories: migrations.map((m) => ({
          path: m.name,
          migrationFile: { path: "migration.sql", content: { tag: "ok", value: m.sql } },
        })),
      },
      filters: noFilters,
    });
    return out.appliedMigrationNames;
  });
}

/**
 * The SQL that takes the schema of the newest migration to `schema` (all of it when there is
 * no migration yet). Needs no database: a PGlite factory only satisfies the engine's API.
 */
export async function diffSchemas(factory: SqlMigrationAwareDriverAdapterFactory, from: string | undefined, to: string): Promise<string> {
  return withEngine(factory, to, async (engine) => {
    const result = await engine.diff({
      from: from === undefined ? { tag: "empty" } : { tag: "schemaDatamodel", files: [{ path: "schema.prisma", content: from }] },
      to: { tag: "schemaDatamodel", files: [{ path: "schema.prisma", content: to }] },
      script: true,
      exitCode: null,
      filters: noFilters,
    });
    return result.stdout ?? "";
  });
}
