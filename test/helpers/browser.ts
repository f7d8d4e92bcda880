// Debian's Chromium driven by playwright-core (never a downloaded browser), and helpers to
// run `quiver serve` as a real child process.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";

export const repoRoot = path.resolve(import.meta.dirname, "..", "..");
export const screenshotDir = path.join(repoRoot, "test-results", "screenshots");

export function chromiumPath(): string | undefined {
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      const p = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (p) return p;
    } catch {
      // not installed under this name
    }
  }
  return undefined;
}

/** Why browser tests cannot run here, or undefined when they can. */
export function browserSkipReason(): string | undefined {
  if (!chromiumPath()) return "Chromium is not installed (scripts/setup-system.sh installs Debian's chromium)";
  if (!existsSync(path.join(repoRoot, "apps", "web", ".next", "BUILD_ID"))) return "the dashboard is not built (npm run build)";
  return undefined;
}

export async function launchBrowser(): Promise<Browser> {
  // launch() gives every browser a fresh temporary profile (the --user-data-dir of the notes).
  mkdirSync(screenshotDir, { recursive: true });
  return chromium.launch({
    executablePath: chromiumPath()!,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ServeProcess {
  child: ChildProcess;
  apiUrl: string;
  webUrl: string;
  output: () => string;
  stop(): Promise<number | null>;
}

/** Runs `quiver serve` and resolves once the API and dashboard both answer. */
export async function startServe(env: Record<string, string>, timeoutMs = 90_000): Promise<ServeProcess> {
  const [port, webPort] = [await freePort(), await freePort()];
  let out = "";
  const child = spawn(process.execPath, [path.join(repoRoot, "apps", "api", "bin", "quiver.js"), "serve"], {
    cwd: repoRoot,
    env: { ...process.env, NODE_OPTIONS: "", HOST: "127.0.0.1", PORT: String(port), WEB_PORT: String(webPort), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const apiUrl = `http://127.0.0.1:${port}`;
  const webUrl = `http://127.0.0.1:${webPort}`;
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once("exit", (code) => resolve(code));
      child.kill("SIGTERM");
    });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`quiver serve exited (${child.exitCode}):\n${out}`);
    const ok = await Promise.all([fetch(`${apiUrl}/healthz`), fetch(`${webUrl}/login`)])
      .then(([a, w]) => a.status === 200 && w.status === 200)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`quiver serve did not come up in ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, apiUrl, webUrl, output: () => out, stop };
}
