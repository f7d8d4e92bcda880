#!/usr/bin/env node
// Builds the addon (npm's install script for this package): node-gyp with all cores and,
// when Node's headers ship with the local Node installation, those headers (no download).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const require = createRequire(import.meta.url);
const gyp = require.resolve("node-gyp/bin/node-gyp.js");
const args = [gyp, "rebuild", "-j", String(Math.max(1, os.cpus().length))];
const prefix = path.dirname(path.dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, "include", "node", "node_api.h"))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
