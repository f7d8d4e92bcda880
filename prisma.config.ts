// Prisma CLI configuration. The datasource URL is only used by the ordinary Prisma CLI
// (`prisma migrate deploy` where its engine can be downloaded); Quiver itself applies
// migrations at start through the WASM schema engine (apps/api/src/catalog/migrate.ts).
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost:5432/quiver" },
});
