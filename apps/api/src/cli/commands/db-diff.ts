// `quiver db diff --name NAME`: writes prisma/migrations/<stamp>_<name>/ from the changes to
// prisma/schema.prisma since the newest migration (offline; see catalog/migrate.ts).
import { parseArgs } from "node:util";
import { writeMigration } from "../../catalog/new-migration.js";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { name: { type: "string" }, help: { type: "boolean" } } });
  if (values.help || !values.name) {
    console.log("Usage: quiver db diff --name NAME   (NAME: lower_snake_case)");
    return values.help ? 0 : 2;
  }
  const written = await writeMigration(values.name);
  if (!written) {
    console.log("No schema changes since the newest migration; nothing written.");
    return 0;
  }
  console.log(`Wrote ${written}. Review it (add hand-written SQL such as vector indexes), then commit it.`);
  return 0;
}
