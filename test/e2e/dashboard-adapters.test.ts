// The adapter pool page in Chromium against a real `quiver serve` on PostgreSQL, with a pool
// of 500 adapters written through the catalog's Prisma client (plus 20 public ones of another
// team, 15 of which the team added to its pool): it renders in under a second (measured in
// the page), pages by cursor, sorts and searches on the API, shows status, visibility, rank,
// modules and size, and includes the public adapters the team added on request.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { openCatalog, type Catalog } from "../../apps/api/src/catalog/database.js";
import { freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import {
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
if (skip && !required) console.log(`Skipping the dashboard adapter pool tests: ${skip}`);
const describeSeeded = skip && !required ? describe.skip : describe;

const POOL = 500;
const PUBLIC_ELSEWHERE = 20;
/** Of those, the ones the team added to its pool (public adapters of other teams are opt-in). */
const ADDED_TO_POOL = 15;
const tasks = ["summarize", "translate", "sql", "classify", "extract", "qa", "code", "math"];
const modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** Marks the moment the first page of rows is in the DOM (runs before the page's scripts). */
const MEASURE_ROWS = `
  window.__rowsAt = null;
  new MutationObserver((_, observer) => {
    if (document.querySelectorAll("[data-testid=adapter-row]").length >= 25) {
      window.__rowsAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
`;

describeSeeded("dashboard: adapter pool with 500 adapters", () => {
  const owner = { email: "owner@example.test", password: "a-long-test-password" };
  let dataDir: string;
  let serve: ServeProcess;
  let catalog: Catalog;
  let browser: Browser;
  let page: Page;
  let names: string[];
  /** The team's adapter names from the most recently updated to the least. */
  let byUpdate: string[];
  const consoleErrors: string[] = [];

  async function seedPool(teamId: string, otherTeamId: string): Promise<void> {
    const p = catalog.prisma;
    const model = await p.baseModel.create({
      data: {
        name: "pool-test-model",
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
    const adapters: {
      id: string;
      teamId: string;
      name: string;
      description: string;
      visibility: "PUBLIC" | "PRIVATE";
      status: "ACTIVE" | "PENDING" | "FAILED" | "DISABLED";
      statusReason: string | null;
      baseModelId: string;
      updatedAt: Date;
    }[] = [];
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 0; i < POOL; i++) {
      const status = i % 50 === 3 ? "FAILED" : i % 50 === 7 ? "PENDING" : i % 50 === 11 ? "DISABLED" : "ACTIVE";
      adapters.push({
        id: randomUUID(),
        teamId,
        name: `${tasks[i % tasks.length]}-${String(i).padStart(3, "0")}`,
        description: `LoRA for ${tasks[i % tasks.length]} tasks, variant ${i}.`,
        visibility: i % 10 === 0 ? "PUBLIC" : "PRIVATE",
        status,
        statusReason:
          status === "FAILED" ? "adapter_config.json: target module w_proj is not in the base model" : status === "DISABLED" ? "disabled by an admin" : null,
        baseModelId: model.id,
        // Updated in an order unrelated to the names: i * 7 mod POOL minutes after t0.
        updatedAt: new Date(t0 + ((i * 7) % POOL) * 60_000),
      });
    }
    for (let i = 0; i < PUBLIC_ELSEWHERE; i++) {
      adapters.push({
        id: randomUUID(),
        teamId: otherTeamId,
        name: `shared-${String(i).padStart(2, "0")}`,
        description: "Published by another team.",
        visibility: "PUBLIC",
        status: "ACTIVE",
        statusReason: null,
        baseModelId: model.id,
        updatedAt: new Date(t0),
      });
    }
    await p.adapter.createMany({ data: adapters });
    await p.adapterVersion.createMany({
      data: adapters
        .filter((a) => a.status !== "PENDING")
        .map((a, i) => ({
          adapterId: a.id,
          version: 1 + (i % 3),
          status: a.status === "FAILED" ? ("FAILED" as const) : ("ACTIVE" as const),
          rank: [4, 8, 16, 32][i % 4]!,
          alpha: 16,
          targetModules: modules.slice(0, 2 + (i % 6)),
          dtype: "f16",
          byteSize: BigInt(65_536 * (1 + (i % 40))),
          contentHash: `hash-${i}`,
          storageUri: `file:///adapters/${a.id}`,
        })),
    });
    await p.$executeRaw`UPDATE "Adapter" a SET "currentVersionId" = v.id FROM "AdapterVersion" v WHERE v."adapterId" = a.id AND a.status <> 'FAILED'`;
    await p.teamPoolAdapter.createMany({
      data: adapters
        .filter((a) => a.teamId === otherTeamId)
        .slice(0, ADDED_TO_POOL)
        .map((a) => ({ teamId, adapterId: a.id })),
    });
    const own = adapters.filter((a) => a.teamId === teamId);
    names = own.map((a) => a.name).sort(); // the test cluster uses the C collation, as JavaScript's default sort does
    byUpdate = [...own].sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime()).map((a) => a.name);
  }

  beforeAll(async () => {
    if (skip) throw new Error(`these tests are required here but: ${skip}`);
    const databaseUrl = await freshPostgresDatabase();
    dataDir = mkdtempSync(path.join(os.tmpdir(), "quiver-data-"));
    serve = await startServe({ DATABASE_URL: databaseUrl, QUIVER_DATA_DIR: dataDir, QUIVER_ADMIN_EMAIL: owner.email, QUIVER_ADMIN_PASSWORD: owner.password });
    catalog = await openCatalog({ databaseUrl });
    const team = await catalog.prisma.team.findFirstOrThrow({ where: { slug: "default" } });
    const other = await catalog.prisma.team.create({ data: { name: "Other team", slug: "other-team" } });
    await seedPool(team.id, other.id);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: laptop });
    collectConsoleErrors(page, consoleErrors);
    await page.addInitScript(MEASURE_ROWS);
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await catalog?.close();
    await serve?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  const firstNames = (n = 3) =>
    page
      .locator("[data-testid=adapter-row] td:first-child .strong")
      .allTextContents()
      .then((t) => t.slice(0, n));

  test("the pool page renders its first page in under a second", async () => {
    await signIn(page, serve.webUrl, owner.email, owner.password);
    // A fresh load of the page, measured inside it: from navigation start to the rows. The
    // fastest of three loads counts, so that a test run sharing the machine's two cores with
    // another suite does not decide the figure.
    let rowsAt = Infinity;
    for (let load = 0; load < 3 && rowsAt >= 1000; load++) {
      await page.goto(`${serve.webUrl}/adapters`);
      await page.waitForFunction("window.__rowsAt !== null");
      const at = await page.evaluate<number>("window.__rowsAt");
      const nav = await page.evaluate<{ domContentLoaded: number }>(
        `(() => { const n = performance.getEntriesByType("navigation")[0]; return { domContentLoaded: n.domContentLoadedEventEnd }; })()`,
      );
      console.log(
        `adapter pool (${POOL} adapters), load ${load + 1}: DOMContentLoaded ${nav.domContentLoaded.toFixed(0)} ms, first ${25} rows ${at.toFixed(0)} ms after navigation start`,
      );
      rowsAt = Math.min(rowsAt, at);
    }
    expect(rowsAt).toBeLessThan(1000);
    await expect(page.getByTestId("adapter-count").textContent()).resolves.toBe(`${POOL} adapters`);
    await expect(page.getByTestId("pager-status").textContent()).resolves.toBe(`Page 1 of 20 · 1–25 of ${POOL}`);
    await expect(firstNames()).resolves.toEqual(names.slice(0, 3));
    await screenshotBothWidths(page, "adapters");
  }, 60_000);

  test("rows show status (with the failure reason), visibility, version, rank, modules and size", async () => {
    await page.getByRole("searchbox", { name: "Search adapters" }).fill("classify-003");
    await waitUntil("the search applies", async () => (await page.getByTestId("adapter-count").textContent()) === "1 adapter");
    const failed = page.getByTestId("adapter-row");
    await expect(failed.getByText("Failed", { exact: true }).isVisible()).resolves.toBe(true);
    await expect(failed.textContent()).resolves.toContain("target module w_proj is not in the base model");

    await page.getByRole("searchbox", { name: "Search adapters" }).fill("summarize-000");
    await waitUntil("the search applies", async () => (await page.getByTestId("adapter-row").first().textContent())!.includes("summarize-000"));
    const row = page.getByTestId("adapter-row");
    await expect(row.getByText("Active", { exact: true }).isVisible()).resolves.toBe(true);
    await expect(row.getByText("Public", { exact: true }).isVisible()).resolves.toBe(true);
    await expect(row.getByRole("list", { name: "Target modules of summarize-000" }).locator("li").allTextContents()).resolves.toEqual(["q_proj", "k_proj"]);
    await expect(row.locator("td[data-label=Size]").textContent()).resolves.toBe("64.0 KiB");
    await expect(row.locator("td[data-label=Version]").textContent()).resolves.toBe("v1");
    await expect(row.locator("td[data-label=Rank]").textContent()).resolves.toBe("4");
    await page.getByRole("searchbox", { name: "Search adapters" }).fill("");
    await waitUntil("the search is cleared", async () => (await page.getByTestId("adapter-count").textContent()) === `${POOL} adapters`);
  }, 30_000);

  test("next and previous walk the pages in name order; the page size applies", async () => {
    const pager = page.getByRole("navigation", { name: "Adapter pages" });
    await expect(pager.getByRole("button", { name: "← Previous" }).isDisabled()).resolves.toBe(true);
    await pager.getByRole("button", { name: "Next →" }).click();
    await waitUntil("page 2 shows", async () => (await page.getByTestId("pager-status").textContent()) === `Page 2 of 20 · 26–50 of ${POOL}`);
    await waitUntil("page 2's rows show", async () => (await firstNames(1))[0] === names[25]);
    await expect(firstNames(25)).resolves.toEqual(names.slice(25, 50));
    await pager.getByRole("button", { name: "← Previous" }).click();
    await waitUntil("page 1 shows again", async () => (await firstNames(1))[0] === names[0]);
    await page.getByLabel("Per page", { exact: true }).selectOption("100");
    await waitUntil("100 rows show", async () => (await page.getByTestId("adapter-row").count()) === 100);
    await expect(page.getByTestId("pager-status").textContent()).resolves.toBe(`Page 1 of 5 · 1–100 of ${POOL}`);
    await page.getByLabel("Per page", { exact: true }).selectOption("25");
    await waitUntil("25 rows show", async () => (await page.getByTestId("adapter-row").count()) === 25);
  }, 30_000);

  test("sorting is done by the API: name descending across pages, then by last update from a column header", async () => {
    await page.getByLabel("Sort", { exact: true }).selectOption("NAME_DESC");
    const reversed = [...names].reverse();
    await waitUntil("the order applies", async () => (await firstNames(1))[0] === reversed[0]);
    await expect(page.locator("th[aria-sort=descending]").textContent()).resolves.toContain("Name");
    await page.getByRole("navigation", { name: "Adapter pages" }).getByRole("button", { name: "Next →" }).click();
    await waitUntil("page 2 in this order shows", async () => (await firstNames(1))[0] === reversed[25]);
    await expect(firstNames(25)).resolves.toEqual(reversed.slice(25, 50));

    await page
      .getByRole("columnheader", { name: /Updated/ })
      .getByRole("button")
      .click();
    await waitUntil("the update order applies from the first page", async () => (await firstNames(1))[0] === byUpdate[0]);
    await expect(page.getByTestId("pager-status").textContent()).resolves.toBe(`Page 1 of 20 · 1–25 of ${POOL}`);
    await expect(firstNames(25)).resolves.toEqual(byUpdate.slice(0, 25));
    await expect(page.getByRole("columnheader", { name: /Updated/ }).getAttribute("aria-sort")).resolves.toBe("descending");
    await expect(page.getByLabel("Sort", { exact: true }).inputValue()).resolves.toBe("UPDATED_DESC");
    await page.getByLabel("Sort", { exact: true }).selectOption("NAME_ASC");
    await waitUntil("name order again", async () => (await firstNames(1))[0] === names[0]);
  }, 30_000);

  test("including public adapters adds the other teams' public ones the team added, labelled with their team", async () => {
    await page.getByLabel("Include public adapters this team added").check();
    await waitUntil("public adapters are counted", async () => (await page.getByTestId("adapter-count").textContent()) === `${POOL + ADDED_TO_POOL} adapters`);
    await page.getByRole("searchbox", { name: "Search adapters" }).fill("shared-");
    await waitUntil("the search applies", async () => (await page.getByTestId("adapter-count").textContent()) === `${ADDED_TO_POOL} adapters`);
    await expect(page.getByTestId("adapter-row").first().textContent()).resolves.toContain("from Other team");
    await screenshotBothWidths(page, "adapters-public");
    await page.getByLabel("Include public adapters this team added").uncheck();
    await page.getByTestId("adapters-empty").waitFor();
    await expect(page.getByTestId("adapters-empty").textContent()).resolves.toContain("No adapters match “shared-”");
  }, 30_000);

  test("no console errors in the browser", () => {
    expect(consoleErrors).toEqual([]);
  });
});
