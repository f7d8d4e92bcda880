// The catalog's connection: one of two database kinds behind one Prisma client.
//  - pglite:   embedded PostgreSQL (WASM) with pgvector, data under QUIVER_DATA_DIR (default)
//  - postgres: a PostgreSQL server with pgvector (DATABASE_URL)
// Opening applies pending migrations. Only the catalog touches the database (lint rule).
import { mkdirSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { QuiverError } from "../errors.js";
import { PrismaClient } from "./generated/client.js";
import { applyMigrations } from "./migrate.js";

export type DatabaseKind = "pglite" | "postgres";

export interface Catalog {
  readonly kind: DatabaseKind;
  readonly prisma: PrismaClient;
  /** Migrations this open applied (empty when the database was current). */
  readonly appliedMigrations: string[];
  /** The server's URL (postgres): the instance lock (instance-lock.ts) holds its own session there. */
  readonly databaseUrl?: string;
  close(): Promise<void>;
}

export interface OpenCatalogOptions {
  /** postgres:// URL of a server with pgvector; omit for embedded PGlite. */
  databaseUrl?: string;
  /** PGlite data directory; omit for an in-memory database (tests). */
  dataDir?: string;
}

export async function openCatalog(options: OpenCatalogOptions = {}): Promise<Catalog> {
  return options.databaseUrl ? openPostgres(options.databaseUrl) : openPglite(options.dataDir);
}

async function openPglite(dataDir: string | undefined): Promise<Catalog> {
  if (dataDir) mkdirSync(path.dirname(dataDir), { recursive: true });
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir ?? "memory://", { extensions: { vector } });
  } catch (err) {
    throw new QuiverError("DATABASE_UNAVAILABLE", `could not open the embedded database at ${dataDir ?? "memory://"}: ${(err as Error).message}`, {
      hint: "Is another Quiver process using this data directory? PGlite allows one process at a time.",
      cause: err,
    });
  }
  const factory = new PrismaPGlite(db);
  try {
    const applied = await applyMigrations(factory);
    const prisma = new PrismaClient({ adapter: factory });
    return {
      kind: "pglite",
      prisma,
      appliedMigrations: applied,
      async close() {
        await prisma.$disconnect();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}

async function openPostgres(databaseUrl: string): Promise<Catalog> {
  const factory = new PrismaPg({ connectionString: databaseUrl, max: 10 });
  let applied: string[];
  try {
    applied = await applyMigrations(factory);
  } catch (err) {
    const message = (err as Error).message;
    if (/ECONNREFUSED|ENOTFOUND|password authentication|does not exist|timeout/i.test(message)) {
      throw new QuiverError("DATABASE_UNAVAILABLE", `could not reach the PostgreSQL server: ${message}`, {
        hint: "Check DATABASE_URL, that the server runs, and that pgvector is installed (CREATE EXTENSION vector).",
        cause: err,
      });
    }
    throw err;
  }
  const prisma = new PrismaClient({ adapter: factory });
  return {
    kind: "postgres",
    prisma,
    appliedMigrations: applied,
    databaseUrl,
    close: () => prisma.$disconnect(),
  };
}
