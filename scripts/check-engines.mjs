#!/usr/bin/env node
// Every package in package-lock.json must run on the oldest Node.js Quiver supports: the
// minimum of the root package.json's "engines.node" (which README.md states). `npm ci` only
// warns about such a package (EBADENGINE); this fails, naming each one, where it is installed
// and the range it asks for. A package without an engines.node field claims nothing and passes.
//   node scripts/check-engines.mjs [--root DIR]     exit 0: all fit; 1: some do not
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import semver from "semver";

/** The minimum Node.js version of the project at `root`, and each locked package whose engines exclude it. */
export function engineProblems(root) {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8"));
  const range = pkg.engines?.node;
  const minimum = range ? semver.minVersion(range) : null;
  if (!minimum) throw new Error(`${path.join(root, "package.json")} has no engines.node range with a minimum`);
  const problems = [];
  for (const [where, entry] of Object.entries(lock.packages ?? {})) {
    const needs = entry.engines?.node;
    if (!where || typeof needs !== "string") continue;
    if (!semver.satisfies(minimum, needs)) {
      const name = where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length) || where;
      problems.push({ name, version: entry.version, where, needs });
    }
  }
  return { range, minimum: minimum.version, problems };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const at = process.argv.indexOf("--root");
  const root = at > 0 ? path.resolve(process.argv[at + 1]) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const { range, minimum, problems } = engineProblems(root);
  if (!problems.length) {
    console.log(`engines: every locked package supports Node.js ${minimum} (package.json engines.node "${range}")`);
  } else {
    console.error(`engines: ${problems.length} locked package(s) exclude Node.js ${minimum}, the minimum of package.json engines.node "${range}":`);
    for (const p of problems) console.error(`  ${p.name}@${p.version} (${p.where}) needs node "${p.needs}"`);
    console.error("Pin a version that supports it (npm view <package>@<version> engines), through root package.json overrides for a transitive one.");
    process.exitCode = 1;
  }
}
