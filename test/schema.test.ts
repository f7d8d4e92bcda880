// The committed schema.graphql is the SDL the server runs (regenerate: npm run schema:print).
import { readFileSync } from "node:fs";
import path from "node:path";
import { printSdl } from "../apps/api/src/graphql/schema.js";

test("schema.graphql is current", () => {
  const committed = readFileSync(path.resolve(import.meta.dirname, "..", "schema.graphql"), "utf8");
  expect(committed).toBe(printSdl());
});
