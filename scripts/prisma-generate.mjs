#!/usr/bin/env node
// postinstall: generate the Prisma client offline. The Prisma CLI wants its native schema
// engine for every command and would download it; `generate` only needs the path to exist,
// so point it at a stub (migrations run through the WASM engine, see catalog/migrate.ts).
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const env = {
  ...process.env,
  CHECKPOINT_DISABLE: "1",
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? path.join(root, "scripts", "prisma-schema-engine-stub.sh"),
};
const prisma = path.join(root, "node_modules", "prisma", "build", "index.js");
const r = spawnSync(process.execPath, [prisma, "generate"], { cwd: root, env, stdio: "inherit" });
process.exit(r.status ?? 1);
