// Upgrades: a database at an older migration, with data, takes the newer migrations and keeps
// its data (here: generation history gains adapter names filled from the adapters).
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { applyMigrations, listMigrations, migrationsDir } from "../../apps/api/src/catalog/migrate.js";

test("the generation_adapter_history migration keeps existing usage rows and names them", async () => {
  const all = listMigrations();
  const upTo = all.findIndex((m) => m.name.endsWith("_generation_adapter_history"));
  expect(upTo).toBeGreaterThan(0);
  const older = mkdtempSync(path.join(os.tmpdir(), "quiver-migrations-"));
  try {
    for (const m of all.slice(0, upTo)) cpSync(path.join(migrationsDir, m.name), path.join(older, m.name), { recursive: true });
    writeFileSync(path.join(older, "migration_lock.toml"), 'provider = "postgresql"\n');
    const db = await PGlite.create("memory://", { extensions: { vector } });
    const factory = new PrismaPGlite(db);
    expect(await applyMigrations(factory, older)).toEqual(all.slice(0, upTo).map((m) => m.name));
    await db.exec(`
      INSERT INTO "Team" (id, name, slug, "updatedAt") VALUES ('00000000-0000-4000-8000-000000000001', 'T', 't', now());
      INSERT INTO "BaseModel" (id, name, architecture, config, "hiddenSize", "numLayers", "vocabSize", "contextLength", dtype, "storageUri", "contentHash")
        VALUES ('00000000-0000-4000-8000-000000000002', 'm', 'LlamaForCausalLM', '{}', 8, 1, 8, 8, 'f32', 'file:///m', '0');
      INSERT INTO "Adapter" (id, "teamId", name, "baseModelId", "updatedAt")
        VALUES ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000001', 'summarise', '00000000-0000-4000-8000-000000000002', now());
      INSERT INTO "Generation" (id, "teamId", strategy, k) VALUES ('00000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000001', 'MIXTURE', 1);
      INSERT INTO "GenerationAdapter" ("generationId", "adapterId", position, weight)
        VALUES ('00000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000003', 0, 1);`);
    expect(await applyMigrations(factory, migrationsDir)).toEqual(all.slice(upTo).map((m) => m.name));
    const rows = await db.query<{ adapterName: string }>(`SELECT "adapterName" FROM "GenerationAdapter"`);
    expect(rows.rows).toEqual([{ adapterName: "summarise" }]);
    // Deleting the adapter now keeps the history.
    await db.exec(`DELETE FROM "Adapter"`);
    const kept = await db.query<{ adapterId: string | null; adapterName: string }>(`SELECT "adapterId", "adapterName" FROM "GenerationAdapter"`);
    expect(kept.rows).toEqual([{ adapterId: null, adapterName: "summarise" }]);
    await db.close();
  } finally {
    rmSync(older, { recursive: true, force: true });
  }
}, 60_000);
