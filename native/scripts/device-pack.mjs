// Packs the engine's GPU checks for a machine with CUDA but no Node.js (docs/engine.md,
// "Checks on a GPU machine"): native/.device-pack/ gets device-check.mjs (device-check.ts
// and everything it imports, bundled) and node.xz (this machine's node binary, compressed);
// the addon already built here travels beside them. Usage, from the repository root:
//   node native/scripts/device-pack.mjs [--dir NAME] [--no-node] [--allow-cpu-only]
// --dir: the folder under native/ (default .device-pack; the bundle finds the addon from
// there); --no-node: bundle only (the test of the runner does this); --allow-cpu-only: pack
// an addon built without CUDA (otherwise refused). Prints the size of what travels.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { build } from "esbuild";

const native = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: { dir: { type: "string" }, "no-node": { type: "boolean" }, "allow-cpu-only": { type: "boolean" } },
  strict: true,
});
const dirName = values.dir ?? ".device-pack";
if (!/^\.?[A-Za-z0-9][A-Za-z0-9._-]*$/.test(dirName)) {
  console.error(`device-pack: --dir must be one folder name under native/, not ${dirName}`);
  process.exit(2);
}
const pack = path.join(native, dirName);
const addon = path.join(native, "build", "Release", "quiver.node");

if (!existsSync(addon)) {
  console.error(`device-pack: ${addon} is missing; build the engine first (npm run build -w @quiver/engine)`);
  process.exit(1);
}
const status = createRequire(import.meta.url)(addon).cudaStatus();
if (!status.compiled && !values["allow-cpu-only"]) {
  console.error(`device-pack: the addon was built without CUDA (${status.reason}); build it where nvcc is installed`);
  process.exit(1);
}

rmSync(pack, { recursive: true, force: true });
mkdirSync(pack, { recursive: true });
await build({
  entryPoints: [path.join(native, "scripts", "device-check.ts")],
  outfile: path.join(pack, "device-check.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // CommonJS dependencies (expect and its helpers) use require and __dirname: give the bundle
  // both.
  banner: {
    js: [
      "import { createRequire as __quiverRequire } from 'node:module';",
      "import { fileURLToPath as __quiverPath } from 'node:url';",
      "import { dirname as __quiverDir } from 'node:path';",
      "const require = __quiverRequire(import.meta.url);",
      "const __filename = __quiverPath(import.meta.url);",
      "const __dirname = __quiverDir(__filename);",
    ].join(" "),
  },
  logLevel: "warning",
});

// xz -6 takes the 99 MB binary to about 24 MB; the device's python3 unpacks it (lzma).
const xz = path.join(pack, "node.xz");
if (!values["no-node"]) writeFileSync(xz, execFileSync("xz", ["-6", "-T0", "-c", process.execPath], { maxBuffer: 1 << 30 }));

const mib = (p) => statSync(p).size / (1 << 20);
const sizes = [path.join(pack, "device-check.mjs"), ...(values["no-node"] ? [] : [xz]), addon].map(
  (p) => `${path.relative(path.dirname(native), p)} ${mib(p).toFixed(1)} MiB`,
);
console.log(`device-pack: ${sizes.join(", ")}`);
console.log(`carry: native/${dirName} native/build/Release/quiver.node; run: bash native/scripts/device-run.sh`);
