// Every dependency supports the oldest Node.js the project promises: scripts/check-engines.mjs
// passes on the committed package-lock.json, fails (naming the package) on a lock with one
// that needs a newer Node.js, and README.md states the same minimum as package.json.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { repoRoot } from "./helpers/browser.js";

const run = promisify(execFile);
const script = path.join(repoRoot, "scripts", "check-engines.mjs");
const minimum = (JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { engines: { node: string } }).engines.node;

test("every locked package supports the minimum Node.js of package.json", async () => {
  const { stdout } = await run(process.execPath, [script], { cwd: repoRoot });
  expect(stdout).toContain("every locked package supports Node.js 20.19.0");
});

test("a locked package whose engines exclude the minimum fails the check, named", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "quiver-engines-"));
  try {
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "x", engines: { node: minimum } }));
    writeFileSync(
      path.join(dir, "package-lock.json"),
      JSON.stringify({
        lockfileVersion: 3,
        packages: {
          "": { name: "x" },
          "node_modules/fits": { version: "1.0.0", engines: { node: "^20.17.0 || >=22.9.0" } },
          "node_modules/no-claim": { version: "1.0.0" },
          "node_modules/a/node_modules/too-new": { version: "8.13.1", engines: { node: ">=22.19.0" } },
        },
      }),
    );
    const err = await run(process.execPath, [script, "--root", dir]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toContain('too-new@8.13.1 (node_modules/a/node_modules/too-new) needs node ">=22.19.0"');
    expect(err?.stderr).not.toContain("fits@");
    expect(err?.stderr).not.toContain("no-claim");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("README.md names the same minimum Node.js as package.json", () => {
  const m = /^>=(\d+)\.(\d+)$/.exec(minimum);
  expect(m).not.toBeNull();
  expect(readFileSync(path.join(repoRoot, "README.md"), "utf8")).toContain(`Node.js ${m![1]}.${m![2]}+`);
});
