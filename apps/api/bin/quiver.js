#!/usr/bin/env node
// The `quiver` command. Runs the TypeScript sources through tsx's loader (no build step);
// `npm run typecheck` type-checks them.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
