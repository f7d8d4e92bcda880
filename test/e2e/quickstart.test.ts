// The quick start as a user meets it: `quiver serve` on the embedded defaults (a fresh data
// directory), the first admin created, /healthz 200, and a sign-in in a real browser that
// lands on the team's adapter list. Screenshots go to test-results/screenshots/.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { browserSkipReason, launchBrowser, screenshotDir, startServe, type ServeProcess } from "../helpers/browser.js";

const skip = browserSkipReason();
const required = process.env.QUIVER_REQUIRE_BROWSER === "1";
if (skip && !required) console.log(`Skipping the browser tests: ${skip}`);
const describeBrowser = skip && !required ? describe.skip : describe;

describeBrowser("quick start: quiver serve + dashboard in Chromium", () => {
  const email = "owner@example.test";
  const password = "a-long-test-password";
  let dataDir: string;
  let serve: ServeProcess;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (skip) throw new Error(`browser tests are required here (QUIVER_REQUIRE_BROWSER=1) but: ${skip}`);
    dataDir = mkdtempSync(path.join(os.tmpdir(), "quiver-data-"));
    serve = await startServe({ QUIVER_DATA_DIR: dataDir, QUIVER_ADMIN_EMAIL: email, QUIVER_ADMIN_PASSWORD: password });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(e.message));
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    const code = await serve?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // A clean shutdown on SIGTERM.
    if (serve) expect(code).toBe(0);
  }, 30_000);

  test("the first start creates the admin on the embedded database and says so", async () => {
    expect(serve.output()).toContain("catalog: embedded PGlite at " + path.join(dataDir, "db"));
    expect(serve.output()).toContain(`created the administrator ${email}`);
    expect(serve.output()).not.toContain(password);
    const health = await fetch(`${serve.apiUrl}/healthz`);
    expect(health.status).toBe(200);
  });

  test("a wrong password shows the API's message and stays on the sign-in page", async () => {
    await page.goto(`${serve.webUrl}/`);
    await page.waitForURL(/\/login$/);
    await page.fill("#email", email);
    await page.fill("#password", "definitely-wrong");
    await page.click("button[type=submit]");
    await expect(page.locator("form [role=alert]").textContent()).resolves.toContain("Invalid email or password.");
    expect(page.url()).toMatch(/\/login$/);
    await page.screenshot({ path: path.join(screenshotDir, "login-error.png") });
  }, 30_000);

  test("signing in lands on the team's adapter list", async () => {
    await page.fill("#password", password);
    await page.click("button[type=submit]");
    await page.waitForURL(/\/adapters$/);
    await page.getByTestId("adapters-empty").waitFor();
    await expect(page.getByTestId("user-email").textContent()).resolves.toBe(email);
    await expect(page.getByTestId("adapter-count").textContent()).resolves.toBe("0 adapters");
    await page.screenshot({ path: path.join(screenshotDir, "adapters-empty.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 800 });
    await page.screenshot({ path: path.join(screenshotDir, "adapters-empty-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  }, 30_000);

  test("signing out returns to the sign-in page and the token stops working", async () => {
    const token = await page.evaluate<string | null>("window.localStorage.getItem('quiver.token')");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    const r = await fetch(`${serve.apiUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: "{ me { id } }" }),
    });
    expect(r.status).toBe(401);
  }, 30_000);

  test("no console errors in the browser", () => {
    // The wrong-password attempt is a GraphQL error in a 200 response, not a console error.
    expect(consoleErrors).toEqual([]);
  });
});
