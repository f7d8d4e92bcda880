// Test helper: paths of the repository and a runner for the `quiver` CLI.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The llama2.c checkpoint the project may read but not copy (see its PROVENANCE.md). */
export const STORIES_DIR = path.resolve(REPO_ROOT, "..", "shared", "models", "stories260K");
export const STORIES_PRESENT = existsSync(path.join(STORIES_DIR, "stories260K.bin"));

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `quiver-${prefix}-`));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `quiver ARGS` from the repository root. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "apps", "api", "bin", "quiver.js"), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
