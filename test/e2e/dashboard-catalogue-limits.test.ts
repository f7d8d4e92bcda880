// The catalogue of public adapters, server settings and the limits' refusals in Chromium
// against a real `quiver serve` that serves stories260K on the embedded database: another
// team's public adapter listed with its team, added to the pool by a team ADMIN (and then in
// `adapters(includePublic: true)`), no pool controls for a VIEWER and no publishing for a
// MEMBER; the server settings page for the server administrator only (checked, saved, a
// team's quota set there); a generation over that quota, an upload past the uploads in
// progress and a team creation the server turned off, each refused where it happened, with
// the wait; and a live page told that the person's access was revoked. Screenshots at laptop
// and phone widths go to test-results/screenshots/.
import http from "node:http";
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
import { adapterFiles, upload } from "../helpers/pool.js";
import { convertStories, storiesAdapter, storiesSkipReason } from "../helpers/stories.js";

const skip = browserSkipReason() ?? storiesSkipReason();
const required = process.env.QUIVER_REQUIRE_BROWSER === "1";
if (skip && !required) console.log(`Skipping the dashboard catalogue and limits tests: ${skip}`);
const describeLive = skip && !required ? describe.skip : describe;

const weather = Array.from({ length: 10 }, (_, i) => `Describe the weather on day ${i + 1}: rain, sun, wind or snow.`);
const numbers = Array.from({ length: 10 }, (_, i) => `What is ${i + 2} times ${i + 5}? Give the number.`);
const stories = Array.from({ length: 10 }, (_, i) => `Tell a story about animal number ${i + 1} in the forest.`);

describeLive("dashboard: catalogue of public adapters, server settings and limits", () => {
  const owner = { email: "owner@example.test", password: "a-long-test-password" };
  const teamAdmin = { email: "team-admin@example.test", password: "a-team-admin-password" };
  const member = { email: "member@example.test", password: "a-member-password" };
  const viewer = { email: "viewer@example.test", password: "a-viewer-password" };
  let dataDir: string;
  let serve: ServeProcess;
  let browser: Browser;
  let token: string;
  let defaultTeamId: string;
  let publishersId: string;
  const contexts: BrowserContext[] = [];
  const pages: Record<"owner" | "teamAdmin" | "member" | "viewer", Page> = {} as never;
  const consoleErrors: string[] = [];

  const gql = async <T>(query: string, variables: Record<string, unknown> = {}, bearer = token): Promise<T> => {
    const r = await apiGraphql<T>(serve.apiUrl, query, variables, bearer);
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    return r.data;
  };
  const statusOf = async (teamId: string, name: string) => {
    const d = await gql<{ adapters: { edges: { node: { name: string; status: string } }[] } }>(
      `query($t: ID!, $s: String!) { adapters(teamId: $t, search: $s) { edges { node { name status } } } }`,
      { t: teamId, s: name },
    );
    return d.adapters.edges.find((e) => e.node.name === name)?.node.status;
  };
  /** Invites `who` into the default team with `role` and accepts: their account exists after. */
  const join = async (who: { email: string; password: string }, role: string) => {
    const invite = await gql<{ inviteMember: { token: string } }>(
      `mutation($t: ID!, $e: String!, $r: Role!) { inviteMember(teamId: $t, email: $e, role: $r) { token } }`,
      { t: defaultTeamId, e: who.email, r: role },
    );
    await gql(
      `mutation($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token } }`,
      { t: invite.inviteMember.token, p: who.password },
      "",
    );
  };
  const open = async (who: keyof typeof pages, account: { email: string; password: string }) => {
    const context = await browser.newContext({ viewport: laptop });
    contexts.push(context);
    const page = await context.newPage();
    collectConsoleErrors(page, consoleErrors, who);
    await signIn(page, serve.webUrl, account.email, account.password);
    pages[who] = page;
    return page;
  };
  const nav = (page: Page) => page.getByRole("navigation", { name: "Main" });
  const catalogueRow = (page: Page, name: string) => page.locator(`[data-testid=catalogue-row][data-name="${name}"]`);
  const bearerOf = (page: Page) => page.evaluate<string>("localStorage.getItem('quiver.token')");

  beforeAll(async () => {
    if (skip) throw new Error(`browser tests are required here (QUIVER_REQUIRE_BROWSER=1) but: ${skip}`);
    dataDir = mkdtempSync(path.join(os.tmpdir(), "quiver-data-"));
    serve = await startServe({
      QUIVER_DATA_DIR: dataDir,
      QUIVER_MODEL: convertStories(),
      QUIVER_DEVICE: "cpu",
      QUIVER_ADMIN_EMAIL: owner.email,
      QUIVER_ADMIN_PASSWORD: owner.password,
      // One upload in progress per team: a second one is refused with a wait.
      QUIVER_UPLOADS_PER_TEAM: "1",
    });
    token = (
      await gql<{ login: { token: string } }>(
        `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
        { e: owner.email, p: owner.password },
        "",
      )
    ).login.token;
    defaultTeamId = (await gql<{ teams: { id: string }[] }>(`{ teams { id } }`)).teams[0]!.id;
    publishersId = (await gql<{ createTeam: { id: string } }>(`mutation { createTeam(name: "Publishers", slug: "publishers") { id } }`)).createTeam.id;
    const published = await upload(
      serve.apiUrl,
      token,
      {
        name: "forecast",
        description: "Weather forecasts for the coast, published for every team.",
        visibility: "PUBLIC",
        teamId: publishersId,
        samples: weather,
      },
      adapterFiles(storiesAdapter(41)),
    );
    expect(published.status).toBe(201);
    const own = await upload(
      serve.apiUrl,
      token,
      { name: "numbers", description: "Questions about numbers", teamId: defaultTeamId, samples: numbers },
      adapterFiles(storiesAdapter(42)),
    );
    expect(own.status).toBe(201);
    await waitUntil(
      "the seeded adapters are active",
      async () => (await statusOf(publishersId, "forecast")) === "ACTIVE" && (await statusOf(defaultTeamId, "numbers")) === "ACTIVE",
      20_000,
    );
    await join(teamAdmin, "ADMIN");
    await join(member, "MEMBER");
    await join(viewer, "VIEWER");
    browser = await launchBrowser();
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  test("the catalogue lists another team's public adapter with its team, description and status; a team admin has no server settings", async () => {
    const page = await open("teamAdmin", teamAdmin);
    await expect(nav(page).getByRole("link", { name: "Server" }).count()).resolves.toBe(0);
    await nav(page).getByRole("link", { name: "Catalogue" }).click();
    await page.waitForURL(/\/catalogue$/);
    const row = catalogueRow(page, "forecast");
    await row.waitFor();
    await expect(page.getByTestId("catalogue-count").textContent()).resolves.toBe("1 public adapter");
    await expect(row.locator("td[data-label=Team]").textContent()).resolves.toBe("Publishers");
    await expect(row.textContent()).resolves.toContain("Weather forecasts for the coast");
    await expect(row.getByText("Active", { exact: true }).isVisible()).resolves.toBe(true);
    await expect(row.getByTestId("in-pool").textContent()).resolves.toBe("Not in pool");
    await expect(row.getAttribute("data-in-pool")).resolves.toBe("false");
    // Not added yet: the team's pool does not include it.
    const before = await gql<{ adapters: { edges: { node: { name: string } }[] } }>(
      `{ adapters(includePublic: true) { edges { node { name } } } }`,
      {},
      await bearerOf(page),
    );
    expect(before.adapters.edges.map((e) => e.node.name)).toEqual(["numbers"]);
    await page.getByRole("searchbox", { name: "Search public adapters" }).fill("no-such-adapter");
    await page.getByTestId("catalogue-empty").waitFor();
    await page.getByRole("searchbox", { name: "Search public adapters" }).fill("");
    await row.waitFor();
    await screenshotBothWidths(page, "catalogue-admin");
  }, 60_000);

  test("a team ADMIN adds it to the pool: shown as in the pool, and adapters(includePublic: true) includes it", async () => {
    const page = pages.teamAdmin;
    const row = catalogueRow(page, "forecast");
    await row.getByRole("button", { name: "Add to pool: forecast" }).click();
    await page.locator('[data-testid=catalogue-row][data-name="forecast"][data-in-pool="true"]').waitFor();
    await expect(row.getByTestId("in-pool").textContent()).resolves.toBe("In pool");
    await expect(row.getByRole("button", { name: "Remove from pool: forecast" }).isVisible()).resolves.toBe(true);
    const bearer = await bearerOf(page);
    const withPublic = await gql<{ adapters: { edges: { node: { name: string; inPool: boolean; team: { name: string } } }[] } }>(
      `{ adapters(includePublic: true) { edges { node { name inPool team { name } } } } }`,
      {},
      bearer,
    );
    expect(withPublic.adapters.edges.map((e) => e.node)).toEqual([
      { name: "forecast", inPool: true, team: { name: "Publishers" } },
      { name: "numbers", inPool: true, team: { name: "Default" } },
    ]);
    // Read again, the catalogue still says so.
    await page.reload();
    await page.locator('[data-testid=catalogue-row][data-name="forecast"][data-in-pool="true"]').waitFor();
    await screenshotBothWidths(page, "catalogue-in-pool");

    // The adapter table's public adapters are the ones the team added.
    await nav(page).getByRole("link", { name: "Adapters", exact: true }).click();
    await page.getByLabel("Include public adapters this team added").check();
    await page.locator('[data-testid=adapter-row][data-name="forecast"]').waitFor();
    await expect(page.locator('[data-testid=adapter-row][data-name="forecast"]').textContent()).resolves.toContain("from Publishers");
    // An admin may publish: the upload form's Public option is enabled and says what it means.
    await page.getByRole("button", { name: "Upload an adapter" }).click();
    const visibility = page.getByTestId("upload-form").getByLabel("Visibility");
    await expect(visibility.locator("option[value=PUBLIC]").textContent()).resolves.toBe("Public: listed in the catalogue; teams that add it may retrieve it");
    await expect(visibility.locator("option[value=PUBLIC]").isDisabled()).resolves.toBe(false);
    await page.getByTestId("upload-form").getByRole("button", { name: "Close" }).click();
  }, 60_000);

  test("a MEMBER may not publish: the Public option is disabled, with the reason", async () => {
    const page = await open("member", member);
    await page.getByRole("button", { name: "Upload an adapter" }).click();
    const form = page.getByTestId("upload-form");
    await expect(form.getByLabel("Visibility").locator("option[value=PUBLIC]").isDisabled()).resolves.toBe(true);
    await expect(form.getByTestId("publish-note").textContent()).resolves.toBe("Publishing an adapter needs the Admin role or above.");
    await nav(page).getByRole("link", { name: "Catalogue" }).click();
    await catalogueRow(page, "forecast").waitFor();
    await expect(catalogueRow(page, "forecast").getByRole("button").count()).resolves.toBe(0);
  }, 60_000);

  test("a VIEWER sees the catalogue and what is in the pool, without the add or remove control", async () => {
    const page = await open("viewer", viewer);
    await nav(page).getByRole("link", { name: "Catalogue" }).click();
    const row = catalogueRow(page, "forecast");
    await row.waitFor();
    await expect(row.getByTestId("in-pool").textContent()).resolves.toBe("In pool");
    await expect(row.getByRole("button").count()).resolves.toBe(0);
    await expect(page.getByRole("button", { name: /pool/ }).count()).resolves.toBe(0);
    await expect(page.getByTestId("catalogue-intro").textContent()).resolves.toContain("Admins and owners of the team choose which ones join its pool.");
    await expect(nav(page).getByRole("link", { name: "Server" }).count()).resolves.toBe(0);
    await screenshotBothWidths(page, "catalogue-viewer");
  }, 60_000);

  test("the server administrator's settings page: problems shown beside their fields, then saved", async () => {
    const page = await open("owner", owner);
    await nav(page).getByRole("link", { name: "Server" }).click();
    await page.waitForURL(/\/server-settings$/);
    const form = page.getByTestId("server-settings-form");
    await form.waitFor();
    const defaults = form.getByTestId("default-quotas");
    const max = form.getByTestId("max-quotas");
    await defaults.getByLabel("Tokens per day").fill("5000");
    await max.getByLabel("Tokens per day").fill("1000");
    await max.getByLabel("Requests per minute").fill("ten");
    await form.getByRole("button", { name: "Save settings" }).click();
    await expect(defaults.getByTestId("quota-error").textContent()).resolves.toBe("Above the maximum for any team (1,000 tokens).");
    await expect(max.getByTestId("quota-error").textContent()).resolves.toBe("A whole number of 0 or more, or empty for unlimited.");
    await expect(page.evaluate<string | null>(`document.activeElement?.getAttribute("aria-invalid")`)).resolves.toBe("true");
    await screenshotBothWidths(page, "server-settings-errors");

    await max.getByLabel("Tokens per day").fill("100000");
    await max.getByLabel("Requests per minute").fill("");
    await form.getByLabel("Any signed-in user may create teams (administrators always may)").uncheck();
    await form.getByRole("button", { name: "Save settings" }).click();
    await page.getByTestId("settings-status").filter({ hasText: "Saved." }).waitFor();
    await expect(form.getByTestId("quota-error").count()).resolves.toBe(0);
    await expect(page.getByTestId("settings-saved-at").textContent()).resolves.toMatch(/^Last saved /);
    const saved = await gql<{
      serverSettings: {
        defaultQuotas: { tokensPerDay: number | null };
        maxQuotas: { tokensPerDay: number | null; requestsPerMinute: number | null };
        teamCreation: boolean;
      };
    }>(`{ serverSettings { defaultQuotas { tokensPerDay } maxQuotas { tokensPerDay requestsPerMinute } teamCreation } }`);
    expect(saved.serverSettings).toEqual({
      defaultQuotas: { tokensPerDay: 5000 },
      maxQuotas: { tokensPerDay: 100000, requestsPerMinute: null },
      teamCreation: false,
    });
    // Read again, the page shows what was saved.
    await page.reload();
    await expect(page.getByTestId("default-quotas").getByLabel("Tokens per day").inputValue()).resolves.toBe("5000");
    await expect(page.getByLabel("Any signed-in user may create teams (administrators always may)").isChecked()).resolves.toBe(false);
    await screenshotBothWidths(page, "server-settings");
  }, 60_000);

  test("not for anyone else: no link, the page says so, the team's quotas are read-only, and team creation is refused", async () => {
    const page = pages.teamAdmin;
    await page.goto(`${serve.webUrl}/server-settings`);
    await page.getByTestId("not-server-admin").waitFor();
    await expect(page.getByTestId("server-settings-form").count()).resolves.toBe(0);
    await expect(nav(page).getByRole("link", { name: "Server" }).count()).resolves.toBe(0);

    await nav(page).getByRole("link", { name: "Team" }).click();
    const quotas = page.getByTestId("team-quotas-read-only");
    await quotas.waitFor();
    // The new maximum lowered the team's unlimited daily tokens to it.
    await expect(quotas.locator("[data-quota=tokensPerDay]").textContent()).resolves.toBe("100,000 tokens");
    await expect(quotas.locator("[data-quota=requestsPerMinute]").textContent()).resolves.toBe("Unlimited");
    await expect(page.getByTestId("quotas-section").locator("input").count()).resolves.toBe(0);

    await page.getByRole("button", { name: "Create a team" }).click();
    const create = page.getByRole("form", { name: "Create a team" });
    await create.getByLabel("Name", { exact: true }).fill("Skunkworks");
    await expect(create.getByLabel("Short name").inputValue()).resolves.toBe("skunkworks");
    await create.getByRole("button", { name: "Create team" }).click();
    const refusal = create.getByRole("alert");
    await refusal.waitFor();
    await expect(refusal.textContent()).resolves.toContain("Team creation is turned off on this server");
    await screenshotBothWidths(page, "team-creation-refused");
  }, 60_000);

  test("a server administrator sets a team's quota; a generation over it shows the refusal and the wait", async () => {
    const page = pages.owner;
    await nav(page).getByRole("link", { name: "Server" }).click();
    const section = page.getByTestId("team-quotas");
    await section.getByLabel("Team", { exact: true }).selectOption({ label: "Default" });
    const form = section.getByTestId("team-quotas-form");
    await expect(form.getByRole("group", { name: "Quotas of Default" }).isVisible()).resolves.toBe(true);
    await form.getByLabel("Tokens per day").fill("");
    await form.getByRole("button", { name: "Save quotas" }).click();
    await expect(form.getByTestId("quota-error").textContent()).resolves.toBe("Cannot be unlimited: the maximum for any team is 100,000 tokens.");
    await form.getByLabel("Tokens per day").fill("100000");
    await form.getByLabel("Requests per minute").fill("1");
    await form.getByRole("button", { name: "Save quotas" }).click();
    await section.getByTestId("team-quotas-status").filter({ hasText: "Saved." }).waitFor();
    const team = await gql<{ team: { quotas: { requestsPerMinute: number | null } } }>(`query($id: ID!) { team(id: $id) { quotas { requestsPerMinute } } }`, {
      id: defaultTeamId,
    });
    expect(team.team.quotas.requestsPerMinute).toBe(1);
    await screenshotBothWidths(page, "server-settings-team-quotas");

    const admin = pages.teamAdmin;
    await nav(admin).getByRole("link", { name: "Playground" }).click();
    await admin.getByLabel("Prompt").fill("What is 3 times 4? Give the number.");
    await admin.getByLabel("Max tokens", { exact: true }).fill("8");
    await admin.getByRole("button", { name: "Run", exact: true }).click();
    await admin.locator("[data-testid=run][data-status=done]").waitFor({ timeout: 30_000 });
    await admin.getByRole("button", { name: "Run", exact: true }).click();
    const failed = admin.locator("[data-testid=run][data-status=failed]");
    await failed.waitFor({ timeout: 15_000 });
    const error = failed.getByTestId("run-error");
    await expect(error.getAttribute("data-code")).resolves.toBe("QUOTA_EXCEEDED");
    await expect(error.textContent()).resolves.toMatch(/^The team's quota is used up: .+ Try again in \d+ s\.$/);
    const wait = Number(await error.getByTestId("retry-after").getAttribute("data-seconds"));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    await screenshotBothWidths(admin, "playground-quota");
  }, 90_000);

  test("an upload past the uploads in progress is refused with the wait; after it, the upload goes through", async () => {
    // Another client's upload holds the team's one slot: its fields and the start of a file,
    // then nothing (the request stays open).
    const boundary = "quiver-held-upload";
    const url = new URL(`${serve.apiUrl}/v1/adapters`);
    const held = http.request({
      hostname: url.hostname,
      port: url.port,
      path: url.pathname,
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${boundary}` },
    });
    held.on("error", () => undefined);
    let heldAnswer: string | undefined;
    held.on("response", (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => (heldAnswer = `${res.statusCode} ${body}`));
    });
    const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    held.write(
      field("name", "held-upload") +
        field("teamId", defaultTeamId) +
        field("samples", JSON.stringify(stories.map((s) => `${s} Slowly.`))) +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="adapter_model.safetensors"\r\nContent-Type: application/octet-stream\r\n\r\n` +
        "x".repeat(64),
    );
    try {
      // Given time to take the slot first, the held upload makes another upload wait (a probe
      // without weights, which would be refused as invalid if it got through).
      await new Promise((r) => setTimeout(r, 500));
      await waitUntil("the held upload has the team's slot", async () => {
        if (heldAnswer) throw new Error(`the held upload was answered: ${heldAnswer}`);
        const probe = await upload(serve.apiUrl, token, { name: "probe", teamId: defaultTeamId, samples: stories }, [
          { filename: "adapter_config.json", data: Buffer.from("{}") },
        ]);
        return probe.status === 429;
      });

      const page = pages.teamAdmin;
      await nav(page).getByRole("link", { name: "Adapters", exact: true }).click();
      await page.getByRole("button", { name: "Upload an adapter" }).click();
      const form = page.getByTestId("upload-form");
      await form.getByLabel("Name").fill("stories");
      for (let i = 0; i < stories.length; i++) await form.getByLabel(`Sample ${i + 1}`, { exact: true }).fill(stories[i]!);
      const files = storiesAdapter(43);
      await form.getByLabel("Adapter files").setInputFiles(["adapter_config.json", "adapter_model.safetensors"].map((f) => path.join(files, f)));
      await form.getByRole("button", { name: "Upload", exact: true }).click();
      const refusal = form.getByTestId("upload-error");
      await refusal.waitFor();
      await expect(refusal.locator("p").first().textContent()).resolves.toMatch(
        /^Too many requests: This team already has 1 adapter upload in progress \(at most 1 at once\)\. Try again in [1-5] s\.$/,
      );
      await expect(refusal.getByTestId("retry-after").getAttribute("data-seconds")).resolves.toBe("5");
      await expect(refusal.locator(".hint").textContent()).resolves.toBe("Wait for an upload in progress to finish, then send this one again.");
      await screenshotBothWidths(page, "adapters-upload-rate-limited");

      held.destroy();
      await refusal.getByText("You may try again now.").waitFor({ timeout: 10_000 });
      await form.getByRole("button", { name: "Upload", exact: true }).click();
      await page.getByTestId("recent-upload").waitFor();
    } finally {
      held.destroy();
    }
  }, 60_000);

  test("a live page is told when the person's access was revoked", async () => {
    const page = pages.viewer;
    await nav(page).getByRole("link", { name: "Adapters", exact: true }).click();
    await page.getByTestId("live-status").filter({ hasText: "Live" }).waitFor();
    const users = await gql<{ team: { members: { user: { id: string; email: string } }[] } }>(
      `query($id: ID!) { team(id: $id) { members { user { id email } } } }`,
      { id: defaultTeamId },
    );
    const viewerId = users.team.members.find((m) => m.user.email === viewer.email)!.user.id;
    await gql(`mutation($t: ID!, $u: ID!) { removeMember(teamId: $t, userId: $u) }`, { t: defaultTeamId, u: viewerId });
    // The next pool event of the team finds the viewer no longer in it.
    const numbersId = (
      await gql<{ adapters: { edges: { node: { id: string } }[] } }>(`{ adapters(teamId: "${defaultTeamId}", search: "numbers") { edges { node { id } } } }`)
    ).adapters.edges[0]!.node.id;
    await gql(`mutation($id: ID!) { updateAdapter(id: $id, changes: { description: "Questions about numbers, revised." }) { id } }`, { id: numbersId });
    const notice = page.getByTestId("access-revoked");
    await notice.waitFor();
    await expect(notice.textContent()).resolves.toMatch(/^Your access changed: .+Live updates stopped/);
    await expect(page.getByTestId("live-status").textContent()).resolves.toContain("Not live: your access changed");
    await screenshotBothWidths(page, "adapters-access-revoked");
  }, 30_000);

  test("no console errors besides the refusals the tests provoked", () => {
    // Chromium logs every 4xx answer: the refused upload (429) is expected, nothing else.
    const provoked = "[teamAdmin] Failed to load resource: the server responded with a status of 429 (Too Many Requests)";
    expect(consoleErrors.filter((e) => e !== provoked)).toEqual([]);
    expect(consoleErrors.filter((e) => e === provoked)).toEqual([provoked]);
  });
});
