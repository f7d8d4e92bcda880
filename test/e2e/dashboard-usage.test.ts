// The usage page in Chromium against a real `quiver serve` on PostgreSQL, with known traffic:
// the test writes Generation rows through the catalog's Prisma client into the same database
// the server reads (PGlite allows one process at a time, so this needs the PostgreSQL test
// server), checks that the totals and every bar of the chart match them, narrows by adapter
// and strategy, then adds traffic and sees the chart move after a refresh.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { openCatalog, type Catalog } from "../../apps/api/src/catalog/database.js";
import { freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import {
  apiGraphql,
  browserSkipReason,
  collectConsoleErrors,
  laptop,
  launchBrowser,
  screenshotBothWidths,
  signIn,
  startServe,
  type ServeProcess,
  waitUntil,
} from "../helpers/browser.js";

const skip = browserSkipReason() ?? postgresSkipReason();
const required = process.env.QUIVER_REQUIRE_BROWSER === "1" || process.env.QUIVER_REQUIRE_POSTGRES === "1";
if (skip && !required) console.log(`Skipping the dashboard usage tests: ${skip}`);
const describeSeeded = skip && !required ? describe.skip : describe;

const HOUR = 3_600_000;
type Strategy = "MIXTURE" | "FUSION" | "SELECTION" | "NONE";

interface Gen {
  createdAt: Date;
  status: "DONE" | "FAILED";
  strategy: Strategy;
  tokensIn: number;
  tokensOut: number;
  adapters: number[];
  viaKey: boolean;
}

describeSeeded("dashboard: usage charts over seeded traffic", () => {
  const owner = { email: "owner@example.test", password: "a-long-test-password" };
  const adapterNames = ["news-summarizer", "sql-writer", "french-translator"];
  let dataDir: string;
  let serve: ServeProcess;
  let catalog: Catalog;
  let browser: Browser;
  let page: Page;
  let teamId: string;
  let userId: string;
  let keyId: string;
  let adapterIds: string[];
  const gens: Gen[] = [];
  const consoleErrors: string[] = [];
  // The hour the traffic is anchored to (bucket starts are whole UTC hours).
  const hour0 = Math.floor(Date.now() / HOUR) * HOUR;

  beforeAll(async () => {
    if (skip) throw new Error(`these tests are required here but: ${skip}`);
    const databaseUrl = await freshPostgresDatabase();
    dataDir = mkdtempSync(path.join(os.tmpdir(), "quiver-data-"));
    serve = await startServe({ DATABASE_URL: databaseUrl, QUIVER_DATA_DIR: dataDir, QUIVER_ADMIN_EMAIL: owner.email, QUIVER_ADMIN_PASSWORD: owner.password });
    // The server has migrated and bootstrapped the database; the test opens it alongside.
    catalog = await openCatalog({ databaseUrl });
    const p = catalog.prisma;
    teamId = (await p.team.findFirstOrThrow({ where: { slug: "default" } })).id;
    userId = (await p.user.findFirstOrThrow({ where: { email: owner.email } })).id;
    const session = (
      await apiGraphql<{ login: { token: string } }>(serve.apiUrl, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`, {
        e: owner.email,
        p: owner.password,
      })
    ).data!.login.token;
    const key = await apiGraphql<{ createApiKey: { apiKey: { id: string } } }>(
      serve.apiUrl,
      `mutation($t: ID!) { createApiKey(teamId: $t, name: "batch-service") { apiKey { id } } }`,
      { t: teamId },
      session,
    );
    keyId = key.data!.createApiKey.apiKey.id;
    const model = await p.baseModel.create({
      data: {
        name: "usage-test-model",
        architecture: "LlamaForCausalLM",
        config: {},
        hiddenSize: 8,
        numLayers: 1,
        vocabSize: 8,
        contextLength: 8,
        dtype: "f32",
        storageUri: "file:///m",
        contentHash: "0",
      },
    });
    adapterIds = [];
    for (const name of adapterNames) adapterIds.push((await p.adapter.create({ data: { teamId, name, baseModelId: model.id, status: "ACTIVE" } })).id);

    browser = await launchBrowser();
    page = await browser.newPage({ viewport: laptop });
    collectConsoleErrors(page, consoleErrors);
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await catalog?.close();
    await serve?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  /** Records `count` generations in the hour `hoursBack` before hour0 (deterministic mix). */
  async function seed(hoursBack: number, count: number): Promise<void> {
    const strategies: Strategy[] = ["MIXTURE", "FUSION", "SELECTION", "NONE"];
    const added: Gen[] = [];
    for (let i = 0; i < count; i++) {
      const n = gens.length + added.length;
      const strategy = strategies[n % 4]!;
      const status = n % 7 === 3 ? "FAILED" : "DONE";
      added.push({
        createdAt: new Date(hour0 - hoursBack * HOUR + i * 1000),
        status,
        strategy,
        tokensIn: 20 + (n % 5) * 10,
        tokensOut: status === "FAILED" ? 0 : 40 + (n % 3) * 25,
        adapters: strategy === "NONE" ? [] : strategy === "SELECTION" ? [n % 3] : [n % 3, (n + 1) % 3],
        viaKey: n % 3 === 0,
      });
    }
    for (const g of added) {
      await catalog.prisma.generation.create({
        data: {
          teamId,
          userId: g.viaKey ? null : userId,
          apiKeyId: g.viaKey ? keyId : null,
          strategy: g.strategy,
          k: g.adapters.length,
          status: g.status,
          tokensIn: g.tokensIn,
          tokensOut: g.tokensOut,
          ttftMs: g.status === "FAILED" ? null : 30 + g.tokensIn,
          totalMs: g.status === "FAILED" ? null : 200 + 10 * g.tokensOut,
          createdAt: g.createdAt,
          adapters: {
            create: g.adapters.map((a, position) => ({ adapterId: adapterIds[a]!, adapterName: adapterNames[a]!, position, weight: 1 / g.adapters.length })),
          },
        },
      });
    }
    gens.push(...added);
  }

  /** Expected bar values of the requests (or errors) series: bucket start -> count. */
  function expectedBars(select: (g: Gen) => boolean): Record<string, number> {
    const bars: Record<string, number> = {};
    for (const g of gens.filter(select)) {
      const start = new Date(Math.floor(g.createdAt.getTime() / HOUR) * HOUR).toISOString();
      bars[start] = (bars[start] ?? 0) + 1;
    }
    return bars;
  }

  async function shownBars(series: "requests" | "errors"): Promise<Record<string, number>> {
    const pairs = await page
      .locator(`[data-testid=chart-requests] rect[data-series=${series}]`)
      .evaluateAll((rects) => rects.map((r) => [r.getAttribute("data-start")!, Number(r.getAttribute("data-value"))] as const));
    return Object.fromEntries(pairs);
  }

  const text = async (testId: string) => (await page.getByTestId(testId).textContent())!.trim();

  test("before any traffic the page says so", async () => {
    await signIn(page, serve.webUrl, owner.email, owner.password);
    await page.getByRole("link", { name: "Usage" }).click();
    await page.waitForURL(/\/usage$/);
    await page.getByTestId("usage-empty").waitFor();
    await expect(page.getByLabel("Range", { exact: true }).inputValue()).resolves.toBe("24h");
    await screenshotBothWidths(page, "usage-empty");
  }, 60_000);

  test("the totals, the requests and errors bars and the top lists show the seeded traffic", async () => {
    for (const [hoursBack, count] of [
      [0, 6],
      [1, 3],
      [3, 9],
      [7, 4],
      [20, 5],
    ] as const)
      await seed(hoursBack, count);
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.getByTestId("chart-requests").waitFor();
    expect(await text("usage-total-requests")).toBe(String(gens.length));
    expect(await text("usage-total-errors")).toBe(String(gens.filter((g) => g.status === "FAILED").length));
    expect(await shownBars("requests")).toEqual(expectedBars(() => true));
    expect(await shownBars("errors")).toEqual(expectedBars((g) => g.status === "FAILED"));
    // The latency chart draws a point wherever an hour had finished requests.
    await expect(page.locator("[data-testid=chart-latency] circle[data-series=latencyP50]").count()).resolves.toBe(
      Object.keys(expectedBars((g) => g.status === "DONE")).length,
    );

    const topAdapters = await page.getByTestId("top-adapters").locator("tbody tr").allTextContents();
    for (const [i, name] of adapterNames.entries()) {
      const uses = gens.filter((g) => g.adapters.includes(i)).length;
      expect(topAdapters.some((row) => row.startsWith(name) && row.includes(String(uses)))).toBe(true);
    }
    const topKeys = await page.getByTestId("top-api-keys").locator("tbody tr").allTextContents();
    expect(topKeys).toHaveLength(1);
    expect(topKeys[0]).toContain("batch-service");
    expect(topKeys[0]).toContain(String(gens.filter((g) => g.viaKey).length));
    await screenshotBothWidths(page, "usage");
  }, 60_000);

  test("filters narrow the report to one adapter, then one strategy", async () => {
    await page.getByLabel("Adapter", { exact: true }).selectOption({ label: "sql-writer" });
    const withSql = gens.filter((g) => g.adapters.includes(1)).length;
    await waitUntil("the adapter filter applies", async () => (await text("usage-total-requests")) === String(withSql));
    expect(await shownBars("requests")).toEqual(expectedBars((g) => g.adapters.includes(1)));
    await page.getByLabel("Adapter", { exact: true }).selectOption("");
    await page.getByLabel("Strategy", { exact: true }).selectOption("FUSION");
    const fusion = gens.filter((g) => g.strategy === "FUSION").length;
    await waitUntil("the strategy filter applies", async () => (await text("usage-total-requests")) === String(fusion));
    await screenshotBothWidths(page, "usage-filtered");
    await page.getByLabel("Strategy", { exact: true }).selectOption("");
    await waitUntil("the filters are cleared", async () => (await text("usage-total-requests")) === String(gens.length));
  }, 60_000);

  test("new traffic moves the chart after a refresh", async () => {
    const start = new Date(hour0).toISOString();
    const bar = page.locator(`[data-testid=chart-requests] rect[data-series=requests][data-start="${start}"]`);
    const before = Number(await bar.getAttribute("data-value"));
    await seed(0, 7);
    await page.getByRole("button", { name: "Refresh" }).click();
    await waitUntil("the refreshed totals show", async () => (await text("usage-total-requests")) === String(gens.length));
    expect(Number(await bar.getAttribute("data-value"))).toBe(before + 7);
    expect(await shownBars("requests")).toEqual(expectedBars(() => true));
  }, 60_000);

  test("daily buckets over the last 7 days add the same traffic up by day", async () => {
    await page.getByLabel("Range", { exact: true }).selectOption("7d");
    await waitUntil("daily buckets show", async () => (await page.locator("[data-testid=chart-requests] .chart-data tbody tr").count()) === 7);
    const values = await page
      .locator("[data-testid=chart-requests] rect[data-series=requests]")
      .evaluateAll((rects) => rects.map((r) => Number(r.getAttribute("data-value"))));
    expect(values.reduce((a, b) => a + b, 0)).toBe(gens.length);
    expect(await text("usage-total-requests")).toBe(String(gens.length));
  }, 30_000);

  test("a custom range of whole UTC days, and a range the API cannot bucket hourly, explained", async () => {
    await page.getByLabel("Range", { exact: true }).selectOption("custom");
    const day = (offset: number) => new Date(hour0 + offset * 24 * HOUR).toISOString().slice(0, 10);
    await page.getByLabel("From (UTC)").fill(day(-2));
    await page.getByLabel("To (UTC)").fill(day(0));
    await waitUntil("three daily buckets show", async () => (await page.locator("[data-testid=chart-requests] .chart-data tbody tr").count()) === 3);
    expect(await text("usage-total-requests")).toBe(String(gens.filter((g) => g.createdAt.getTime() >= Date.parse(`${day(-2)}T00:00:00Z`)).length));
    await page.getByLabel("From (UTC)").fill(day(-40));
    await page.getByLabel("Buckets", { exact: true }).selectOption("DAY");
    await expect(page.locator("#usage-grain option[value=HOUR]").isDisabled()).resolves.toBe(true);
    await page.getByLabel("From (UTC)").fill(day(-400));
    await page.getByRole("alert").filter({ hasText: "Daily buckets cover at most 366 days; this range has 401." }).waitFor();
  }, 30_000);

  test("no console errors in the browser", () => {
    expect(consoleErrors).toEqual([]);
  });
});
