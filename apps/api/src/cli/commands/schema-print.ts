// `quiver schema print [--out FILE]`: the GraphQL SDL (the committed schema.graphql).
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { printSdl } from "../../graphql/schema.js";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { out: { type: "string" } } });
  const sdl = printSdl();
  if (values.out) writeFileSync(values.out, sdl);
  else process.stdout.write(sdl);
  return 0;
}
