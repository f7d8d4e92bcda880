// The adapter pool, adapter page, pool map and playground in Chromium against a real
// `quiver serve` that serves stories260K (converted by the test) on the embedded database:
// an upload through the form (problems beside their fields, the API's refusals where they
// belong) that becomes ACTIVE without a reload, an adapter added elsewhere appearing live,
// the adapter page's edits and new weights, the pool map, streaming generations compared
// side by side, stopping one, and what a VIEWER does not see. Screenshots at laptop and
// phone widths go to test-results/screenshots/.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
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
import { adapterFiles, upload, writeAdapter } from "../helpers/pool.js";
import { convertStories, storiesAdapter, storiesSkipReason } from "../helpers/stories.js";

const skip = browserSkipReason() ?? storiesSkipReason();
const required = process.env.QUIVER_REQUIRE_BROWSER === "1";
if (skip && !required) console.log(`Skipping the dashboard pool and playground tests: ${skip}`);
const describeLive = skip && !required ? describe.skip : describe;

const animals = ["cat", "dog", "bird", "fox", "bear", "frog", "duck", "lion", "fish", "owl"].map((a) => `Tell a story about a ${a} in the forest.`);
const topics: Record<string, string[]> = {
  numbers: Array.from({ length: 10 }, (_, i) => `What is ${i + 2} times ${i + 5}? Give the number.`),
  weather: Array.from({ length: 10 }, (_, i) => `Describe the weather on day ${i + 1}: rain, sun, wind or snow.`),
};

describeLive("dashboard: live pool, adapter page, pool map and playground on stories260K", () => {
  const owner = { email: "owner@example.test", password: "a-long-test-password" };
  const viewer = { email: "viewer@example.test", password: "a-viewer-password" };
  let dataDir: string;
  let serve: ServeProcess;
  let browser: Browser;
  let ownerContext: BrowserContext;
  let page: Page;
  let token: string;
  let teamId: string;
  const consoleErrors: string[] = [];

  const gql = async <T>(query: string, variables: Record<string, unknown> = {}, bearer = token): Promise<T> => {
    const r = await apiGraphql<T>(serve.apiUrl, query, variables, bearer);
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    return r.data;
  };
  const statusOf = async (name: string) => {
    const d = await gql<{ adapters: { edges: { node: { name: string; status: string } }[] } }>(
      `query($s: String!) { adapters(search: $s) { edges { node { name status } } } }`,
      { s: name },
    );
    return d.adapters.edges.find((e) => e.node.name === name)?.node.status;
  };
  const row = (name: string) => page.locator(`[data-testid=adapter-row][data-name="${name}"]`);

  beforeAll(async () => {
    if (skip) throw new Error(`browser tests are required here (QUIVER_REQUIRE_BROWSER=1) but: ${skip}`);
    dataDir = mkdtempSync(path.join(os.tmpdir(), "quiver-data-"));
    serve = await startServe({
      QUIVER_DATA_DIR: dataDir,
      QUIVER_MODEL: convertStories(),
      QUIVER_DEVICE: "cpu",
      QUIVER_ADMIN_EMAIL: owner.email,
      QUIVER_ADMIN_PASSWORD: owner.password,
    });
    token = (
      await gql<{ login: { token: string } }>(
        `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
        { e: owner.email, p: owner.password },
        "",
      )
    ).login.token;
    teamId = (await gql<{ teams: { id: string }[] }>(`{ teams { id } }`)).teams[0]!.id;
    let seed = 11;
    for (const [name, samples] of Object.entries(topics)) {
      const r = await upload(serve.apiUrl, token, { name, description: `Questions about ${name}`, samples }, adapterFiles(storiesAdapter(seed++)));
      expect(r.status).toBe(201);
    }
    await waitUntil("the seeded adapters are active", async () => (await statusOf("numbers")) === "ACTIVE" && (await statusOf("weather")) === "ACTIVE", 20_000);
    browser = await launchBrowser();
    ownerContext = await browser.newContext({ viewport: laptop });
    page = await ownerContext.newPage();
    collectConsoleErrors(page, consoleErrors, "owner");
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  test("the upload form shows problems beside their fields, and the API's refusals where they belong", async () => {
    await signIn(page, serve.webUrl, owner.email, owner.password);
    await page.getByTestId("live-status").filter({ hasText: "Live" }).waitFor();
    await page.getByRole("button", { name: "Upload an adapter" }).click();
    const form = page.getByTestId("upload-form");
    const submit = form.getByRole("button", { name: "Upload", exact: true });

    await submit.click();
    await expect(form.getByTestId("name-error").textContent()).resolves.toBe("Give the adapter a name.");
    await expect(form.getByTestId("samples-count").textContent()).resolves.toContain("0 of 10–20 samples. Add 10 more");
    await expect(form.getByTestId("files-error").textContent()).resolves.toContain("Choose adapter_config.json and adapter_model.safetensors");
    await expect(page.evaluate<string | null>(`document.activeElement?.getAttribute("aria-invalid")`)).resolves.toBe("true");

    // Ten lines pasted into the first row become ten rows; a repeated sample is flagged on its
    // row as it is typed; a lone PEFT file asks for the other.
    await form.getByLabel("Name").fill("numbers");
    await form.getByLabel("Sample 1", { exact: true }).focus();
    await page.evaluate(`(() => {
      const data = new DataTransfer();
      data.setData("text/plain", ${JSON.stringify(animals.join("\n"))});
      document.activeElement.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    })()`);
    await expect(form.getByLabel("Sample 10", { exact: true }).inputValue()).resolves.toBe(animals[9]);
    await expect(form.getByRole("textbox", { name: /^Sample \d+$/ }).count()).resolves.toBe(10);
    await form.getByLabel("Sample 10", { exact: true }).fill(animals[0]!);
    await expect(form.getByText("Same text as sample 1: samples must be distinct.").isVisible()).resolves.toBe(true);
    await form.getByLabel("Sample 10", { exact: true }).fill(animals[9]!);
    await expect(form.getByTestId("samples-count").textContent()).resolves.toBe("10 of 10–20 samples.");
    const good = storiesAdapter(1);
    await form.getByLabel("Adapter files").setInputFiles([path.join(good, "adapter_config.json")]);
    await expect(form.getByTestId("files-error").textContent()).resolves.toContain("Add adapter_model.safetensors too");

    // The API refuses the taken name: shown under the name.
    await form.getByLabel("Adapter files").setInputFiles(["adapter_config.json", "adapter_model.safetensors"].map((f) => path.join(good, f)));
    await submit.click();
    await form.getByTestId("name-error").waitFor();
    await expect(form.getByTestId("name-error").textContent()).resolves.toContain('An adapter named "numbers" already exists');

    // Weights for another base model: refused with the check that failed and a hint, under the files.
    await form.getByLabel("Name").fill("animals");
    const wrong = writeAdapter({ seed: 5 });
    await form.getByLabel("Adapter files").setInputFiles(["adapter_config.json", "adapter_model.safetensors"].map((f) => path.join(wrong, f)));
    await submit.click();
    await form.getByTestId("files-error").waitFor();
    await expect(form.getByTestId("files-error").locator("p").first().textContent()).resolves.toMatch(/^Made for another base model: .*maybe wrong base model/);
    await expect(form.getByTestId("files-error").locator(".hint").textContent()).resolves.toMatch(/^Is it an adapter for /);
    await expect(form.getByTestId("name-error").count()).resolves.toBe(0);
    await screenshotBothWidths(page, "adapters-upload-errors");
  }, 60_000);

  test("a good upload becomes ACTIVE in the table and in the upload's status without a reload", async () => {
    await page.evaluate("window.__sameDocument = true");
    const form = page.getByTestId("upload-form");
    const good = storiesAdapter(1);
    await form.getByLabel("Description").fill("Short stories about animals in the forest.");
    await form.getByLabel("Adapter files").setInputFiles(["adapter_config.json", "adapter_model.safetensors"].map((f) => path.join(good, f)));
    await form.getByRole("button", { name: "Upload", exact: true }).click();
    const uploaded = page.getByTestId("recent-upload");
    await uploaded.waitFor();
    await expect(uploaded.locator("a").textContent()).resolves.toBe("animals");
    await page.locator("[data-testid=recent-upload][data-status=ACTIVE]").waitFor({ timeout: 15_000 });
    await row("animals").locator("text=Active").waitFor();
    await expect(page.getByTestId("adapter-count").textContent()).resolves.toBe("3 adapters");
    await expect(page.evaluate("window.__sameDocument")).resolves.toBe(true);
    await screenshotBothWidths(page, "adapters-live");
  }, 60_000);

  test("an adapter uploaded by another client appears in the open table as it becomes ACTIVE", async () => {
    await expect(row("stories-extra").count()).resolves.toBe(0);
    const r = await upload(
      serve.apiUrl,
      token,
      { name: "stories-extra", samples: animals.map((s) => s.replace("Tell", "Write")) },
      adapterFiles(storiesAdapter(21)),
    );
    expect(r.status).toBe(201);
    await row("stories-extra").waitFor();
    await page.locator('[data-testid=adapter-row][data-name="stories-extra"][data-status=ACTIVE]').waitFor({ timeout: 15_000 });
    await expect(page.getByTestId("adapter-count").textContent()).resolves.toBe("4 adapters");
    await expect(page.evaluate("window.__sameDocument")).resolves.toBe(true);
  }, 30_000);

  test("the adapter page: config, samples, versions, neighbours; description, new weights, disable and enable", async () => {
    await row("animals").getByRole("link", { name: "animals" }).click();
    await page.waitForURL(/\/adapters\/[0-9a-f-]{36}$/);
    await page.getByTestId("adapter-config").waitFor();
    await expect(page.getByTestId("config-rank").textContent()).resolves.toBe("4");
    await expect(page.getByRole("heading", { name: "Samples (10)" }).isVisible()).resolves.toBe(true);
    await expect(page.getByTestId("version-row").count()).resolves.toBe(1);
    // Nearest by embedding: the other stories adapter before the unrelated topics.
    await page.getByTestId("neighbours").waitFor();
    await expect(page.getByTestId("neighbours").locator("a").first().textContent()).resolves.toBe("stories-extra");

    const settings = page.getByTestId("adapter-settings");
    await settings.getByLabel("Description").fill("Bedtime stories with animals.");
    await settings.getByRole("button", { name: "Save" }).click();
    await page.locator("p.description", { hasText: "Bedtime stories with animals." }).waitFor();

    const versions = page.getByTestId("new-version-form");
    const v2 = storiesAdapter(2, 8);
    await versions.getByLabel("Files of the new version").setInputFiles(["adapter_config.json", "adapter_model.safetensors"].map((f) => path.join(v2, f)));
    await versions.getByRole("button", { name: "Upload as a new version" }).click();
    await waitUntil("version 2 is listed", async () => (await page.getByTestId("version-row").count()) === 2);
    await expect(page.getByTestId("version-row").first().getAttribute("data-version")).resolves.toBe("2");
    await waitUntil("version 2 is served", async () => (await page.getByTestId("config-rank").textContent()) === "8");

    await page.getByRole("button", { name: "Disable" }).click();
    await page.locator("[data-testid=adapter-status][data-status=DISABLED]").waitFor();
    await page.getByRole("button", { name: "Enable" }).click();
    await page.locator("[data-testid=adapter-status][data-status=ACTIVE]").waitFor();
    await page.getByTestId("neighbours").waitFor();
    await screenshotBothWidths(page, "adapter");
  }, 60_000);

  test("the pool map: a heatmap cell per pair and a point per adapter, both opening the adapter page", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Pool map" }).click();
    await page.waitForURL(/\/pool-map$/);
    await page.getByTestId("heatmap").locator("svg").waitFor();
    await expect(page.getByTestId("pool-map-count").textContent()).resolves.toMatch(/^4 active adapters · embeddings by use-lite@/);
    await expect(page.locator("[data-testid=heatmap] rect[data-row]").count()).resolves.toBe(16);
    await expect(page.getByTestId("scatter-point").count()).resolves.toBe(4);
    // The two stories adapters sit next to each other in the clustering order.
    const order = await page.locator("[data-testid=heatmap] .row-label").allTextContents();
    expect(Math.abs(order.indexOf("animals") - order.indexOf("stories-extra"))).toBe(1);
    await page.locator("[data-testid=heatmap] svg").focus();
    await page.keyboard.press("ArrowRight");
    await expect(page.getByTestId("heatmap-readout").textContent()).resolves.toMatch(new RegExp(`^${order[0]} × ${order[1]}: similarity 0\\.\\d{3}\\.`));
    await screenshotBothWidths(page, "pool-map");
    await page.locator('[data-testid=scatter-point][data-name="weather"]').click();
    await page.waitForURL(/\/adapters\/[0-9a-f-]{36}$/);
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("weather");
  }, 30_000);

  test("the playground: retrieval picks, then three strategies streaming side by side", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Playground" }).click();
    await page.waitForURL(/\/playground$/);
    await page.getByLabel("Prompt").fill("Tell a story about a rabbit in the forest.");
    await page.getByTestId("pick").first().waitFor();
    await expect(page.getByTestId("pick").first().getAttribute("data-name")).resolves.toMatch(/^(animals|stories-extra)$/);
    await page.getByRole("checkbox", { name: /^Fusion/ }).check();
    await page.getByRole("checkbox", { name: /^None/ }).check();
    // Counts the distinct lengths each output had: streamed text grows in steps.
    await page.evaluate(`window.__lengths = {};
      new MutationObserver(() => document.querySelectorAll("[data-testid=run]").forEach((r) => {
        const s = r.getAttribute("data-strategy"), n = r.querySelector("[data-testid=run-output]").textContent.length;
        (window.__lengths[s] ??= new Set()).add(n);
      })).observe(document.body, { subtree: true, childList: true, characterData: true });`);
    await page.getByRole("button", { name: "Run 3 side by side" }).click();
    await waitUntil("all three runs finish", async () => (await page.locator("[data-testid=run][data-status=done]").count()) === 3, 30_000);
    await expect(page.locator("[data-testid=run]").evaluateAll((runs) => runs.map((r) => r.getAttribute("data-strategy")))).resolves.toEqual([
      "MIXTURE",
      "FUSION",
      "NONE",
    ]);
    const steps = await page.evaluate<Record<string, number>>("Object.fromEntries(Object.entries(window.__lengths).map(([k, v]) => [k, v.size]))");
    // At least the prompt alone, some text, and the whole text (the browser renders several
    // deltas that arrive within one frame together).
    for (const s of ["MIXTURE", "FUSION", "NONE"]) expect(steps[s]).toBeGreaterThanOrEqual(3);
    const mixture = page.locator("[data-testid=run][data-strategy=MIXTURE]");
    await expect(mixture.getByTestId("run-adapters").locator("li").count()).resolves.toBe(3);
    await expect(mixture.getByTestId("run-usage").textContent()).resolves.toMatch(/Tokens\d+ in · \d+ out/);
    await expect(mixture.getByTestId("run-finish").textContent()).resolves.toMatch(/^(length|stop|eos)$/);
    const none = page.locator("[data-testid=run][data-strategy=NONE]");
    await expect(none.getByTestId("run-adapters").count()).resolves.toBe(0);
    await screenshotBothWidths(page, "playground");
  }, 60_000);

  test("stopping a generation cancels it on the server, which records fewer tokens than asked", async () => {
    await page.getByRole("checkbox", { name: /^Fusion/ }).uncheck();
    await page.getByRole("checkbox", { name: /^None/ }).uncheck();
    await page.getByLabel("Max tokens", { exact: true }).fill("500");
    await page.getByLabel("Generate exactly max tokens (ignore end of sequence)").check();
    // Pinned (found by name: retrieval does not pick it for this prompt): the run uses this
    // adapter instead of retrieving.
    await expect(page.getByTestId("pick").filter({ hasText: "numbers" }).count()).resolves.toBe(0);
    await page.getByLabel("Pin another adapter").fill("numb");
    await page.getByRole("list", { name: "Matching adapters" }).getByRole("button", { name: "Pin numbers" }).click();
    await expect(page.getByTestId("pinned").textContent()).resolves.toContain("numbers");
    // The runs of the previous test are replaced by new elements: mark the old ones.
    await page.evaluate(`document.querySelectorAll("[data-testid=run]").forEach((r) => r.setAttribute("data-old", ""))`);
    const run = page.locator("[data-testid=run][data-strategy=MIXTURE]:not([data-old])");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    // stories260K writes 500 tokens in a fraction of a second: at the first text (checked
    // every frame), hold the server (the API process) while the browser presses Stop, so that
    // the cancellation meets a running generation whatever the machine's load.
    await page.waitForFunction(
      `(() => { const r = document.querySelector("[data-testid=run][data-strategy=MIXTURE]:not([data-old])");
        return r && (r.dataset.status === "done" || (r.dataset.status === "streaming" && r.querySelector("[data-testid=run-output]").textContent.length > 45)); })()`,
      undefined,
      { polling: "raf", timeout: 10_000 },
    );
    process.kill(serve.child.pid!, "SIGSTOP");
    try {
      await expect(run.getAttribute("data-status")).resolves.toBe("streaming");
      await run.getByRole("button", { name: "Stop the mixture generation" }).click();
      await run.and(page.locator("[data-status=stopping]")).waitFor();
    } finally {
      process.kill(serve.child.pid!, "SIGCONT");
    }
    await run.and(page.locator("[data-status=stopped]")).waitFor({ timeout: 10_000 });
    await expect(run.getByTestId("run-finish").textContent()).resolves.toBe("cancelled");
    await expect(run.getByTestId("run-adapters").locator(".name").allTextContents()).resolves.toEqual(["numbers"]);
    const out = Number(/(\d+) out/.exec((await run.getByTestId("run-usage").textContent())!)![1]);
    expect(out).toBeGreaterThan(0);
    expect(out).toBeLessThan(500);
  }, 30_000);

  test("the pool table and the adapter page count the generations that used the adapter", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Adapters" }).click();
    // The mixture and fusion runs retrieved it (k = 3 of 4 adapters); the stopped run had
    // another adapter pinned, and the base model alone uses none.
    const requests = row("animals").locator('td[data-label="Requests, 7 days"]');
    await waitUntil("the usage column is read", async () => (await requests.textContent()) !== "…");
    await expect(requests.textContent()).resolves.toBe("2");
    await expect(row("numbers").locator('td[data-label="Requests, 7 days"]').textContent()).resolves.toBe("1");
    await row("animals").getByRole("link", { name: "animals" }).click();
    await page.getByTestId("adapter-usage-chart").waitFor();
    await expect(page.getByTestId("usage-total-requests").textContent()).resolves.toBe("2");
    await screenshotBothWidths(page, "adapter-usage");
  }, 30_000);

  test("an admin deletes an adapter after confirming; the pool table loses it", async () => {
    const r = await upload(serve.apiUrl, token, { name: "scratch", samples: topics.weather!.map((s) => `${s} Briefly.`) }, adapterFiles(storiesAdapter(31)));
    await page.goto(`${serve.webUrl}/adapters/${r.body.adapter!.id}`);
    await page.getByRole("button", { name: "Delete" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete scratch?" });
    await dialog.getByRole("button", { name: "Delete adapter" }).click();
    await page.waitForURL(/\/adapters$/);
    await page.getByTestId("adapter-count").filter({ hasText: "4 adapters" }).waitFor();
    await expect(row("scratch").count()).resolves.toBe(0);
    await expect(statusOf("scratch")).resolves.toBeUndefined();
  }, 30_000);

  test("a VIEWER sees the pool, the adapter and retrieval, but no upload, edit, delete or run controls", async () => {
    const invite = await gql<{ inviteMember: { token: string } }>(
      `mutation($t: ID!, $e: String!) { inviteMember(teamId: $t, email: $e, role: VIEWER) { token } }`,
      { t: teamId, e: viewer.email },
    );
    await gql(
      `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p, name: "Vic Viewer") { token } }`,
      { t: invite.inviteMember.token, p: viewer.password },
      "",
    );
    const context = await browser.newContext({ viewport: laptop });
    const viewerPage = await context.newPage();
    collectConsoleErrors(viewerPage, consoleErrors, "viewer");
    await signIn(viewerPage, serve.webUrl, viewer.email, viewer.password);
    await viewerPage.locator("[data-testid=adapter-row]").first().waitFor();
    await expect(viewerPage.getByRole("button", { name: "Upload an adapter" }).count()).resolves.toBe(0);

    await viewerPage.locator('[data-testid=adapter-row][data-name="animals"] a').click();
    await viewerPage.getByTestId("adapter-config").waitFor();
    await expect(viewerPage.getByTestId("read-only-note").isVisible()).resolves.toBe(true);
    for (const name of ["Edit samples", "Disable", "Delete", "Save", "Upload as a new version"]) {
      await expect(viewerPage.getByRole("button", { name }).count()).resolves.toBe(0);
    }
    await expect(viewerPage.getByTestId("new-version-form").count()).resolves.toBe(0);

    await viewerPage.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Playground" }).click();
    await viewerPage.getByLabel("Prompt").fill("What is 3 times 4?");
    await viewerPage.getByTestId("pick").first().waitFor();
    await expect(viewerPage.getByTestId("run-note").isVisible()).resolves.toBe(true);
    await expect(viewerPage.getByRole("button", { name: /^Run/ }).count()).resolves.toBe(0);
    await expect(viewerPage.getByRole("button", { name: /^Pin/ }).count()).resolves.toBe(0);
    await screenshotBothWidths(viewerPage, "playground-viewer");
    await context.close();
  }, 60_000);

  test("no console errors in the browser besides the two refusals the first test provoked", () => {
    // Chromium logs every 4xx answer as a console error: the upload form's CONFLICT (409) and
    // ADAPTER_INVALID (422) answers are expected there, and nothing else.
    const provoked = [409, 422].map(
      (s) => `[owner] Failed to load resource: the server responded with a status of ${s} (${s === 409 ? "Conflict" : "Unprocessable Entity"})`,
    );
    expect(consoleErrors.filter((e) => !provoked.includes(e))).toEqual([]);
    expect(consoleErrors.filter((e) => provoked.includes(e))).toEqual(provoked);
  });
});
