// Debian's Chromium driven by playwright-core (never a downloaded browser), and helpers to
// run `quiver serve` as a real child process.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

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
    // QUIVER_ZOO=off unless a test names a zoo: each test serves what it configures.
    env: { ...process.env, NODE_OPTIONS: "", HOST: "127.0.0.1", PORT: String(port), WEB_PORT: String(webPort), QUIVER_ZOO: "off", ...env },
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

// --- Dashboard test helpers -------------------------------------------------------------

/** Collects the page's console errors and uncaught exceptions into `into`, tagged with `label`. */
export function collectConsoleErrors(page: Page, into: string[], label = "page"): void {
  page.on("console", (m) => {
    if (m.type() === "error") into.push(`[${label}] ${m.text()}`);
  });
  page.on("pageerror", (e) => into.push(`[${label}] ${e.message}`));
}

/** Signs in through the sign-in form and waits until the adapter pool shows. */
export async function signIn(page: Page, webUrl: string, email: string, password: string): Promise<void> {
  await page.goto(`${webUrl}/login`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/adapters$/);
  await page
    .getByTestId("adapter-count")
    .filter({ hasText: /adapters?$/ })
    .waitFor();
}

export const laptop = { width: 1280, height: 800 };
export const phone = { width: 390, height: 844 };

/**
 * Full-page screenshots of what the page shows now at laptop and phone widths, as
 * test-results/screenshots/NAME.png and NAME-phone.png; the page is left at laptop width.
 */
export async function screenshotBothWidths(page: Page, name: string): Promise<void> {
  await page.setViewportSize(laptop);
  await settle(page);
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
  await page.setViewportSize(phone);
  await settle(page);
  await page.screenshot({ path: path.join(screenshotDir, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(laptop);
  await settle(page);
}

/** Two animation frames: enough for resize observers (the charts) to lay out again. */
function settle(page: Page): Promise<unknown> {
  return page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))");
}

/** One GraphQL request to the API as a client would send it (not through the browser). */
export async function apiGraphql<T = Record<string, unknown>>(
  apiUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  bearer?: string,
): Promise<{ status: number; data?: T | null; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const res = await fetch(`${apiUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as object) };
}

export { waitUntil } from "./wait.js";
