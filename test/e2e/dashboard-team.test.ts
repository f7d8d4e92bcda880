// The team page in Chromium against a real `quiver serve` (embedded database): API keys shown
// once and revoked (the API then refuses the key), an invitation accepted in a second browser
// context, and what each role sees. Screenshots at laptop and phone widths go to
// test-results/screenshots/.
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

const skip = browserSkipReason();
const required = process.env.QUIVER_REQUIRE_BROWSER === "1";
if (skip && !required) console.log(`Skipping the dashboard team tests: ${skip}`);
const describeBrowser = skip && !required ? describe.skip : describe;

describeBrowser("dashboard: team, invitations and API keys", () => {
  const owner = { email: "owner@example.test", password: "a-long-test-password" };
  const invitee = { email: "viewer@example.test", password: "another-long-password", name: "Vera Viewer" };
  let dataDir: string;
  let serve: ServeProcess;
  let browser: Browser;
  let ownerContext: BrowserContext;
  let inviteeContext: BrowserContext;
  let page: Page;
  let inviteePage: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    if (skip) throw new Error(`browser tests are required here (QUIVER_REQUIRE_BROWSER=1) but: ${skip}`);
    dataDir = mkdtempSync(path.join(os.tmpdir(), "quiver-data-"));
    serve = await startServe({ QUIVER_DATA_DIR: dataDir, QUIVER_ADMIN_EMAIL: owner.email, QUIVER_ADMIN_PASSWORD: owner.password });
    browser = await launchBrowser();
    ownerContext = await browser.newContext({ viewport: laptop });
    await ownerContext.grantPermissions(["clipboard-read", "clipboard-write"], { origin: serve.webUrl });
    page = await ownerContext.newPage();
    collectConsoleErrors(page, consoleErrors, "owner");
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  test("the owner reaches the team page through the navigation and sees every section", async () => {
    await signIn(page, serve.webUrl, owner.email, owner.password);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Team" }).click();
    await page.waitForURL(/\/team$/);
    await expect(page.getByRole("link", { name: "Team" }).getAttribute("aria-current")).resolves.toBe("page");
    const me = page.locator(`[data-testid=member-row][data-email="${owner.email}"]`);
    await me.waitFor();
    await expect(me.textContent()).resolves.toContain("you");
    for (const heading of ["Members", "Invitations", "API keys", "Audit log"]) {
      await expect(page.getByRole("heading", { name: heading, exact: true }).isVisible()).resolves.toBe(true);
    }
    await page.getByTestId("api-keys-empty").waitFor();
    await page.getByTestId("audit-log").waitFor();
    await screenshotBothWidths(page, "team-owner");
  }, 60_000);

  test("an API key: created, its secret shown once with a copy button, then revoked; the API refuses it after", async () => {
    const form = page.getByRole("form", { name: "Create an API key" });
    await form.getByLabel("Name").fill("ci-bot");
    await form.getByLabel("Role").selectOption("VIEWER");
    await form.getByLabel("Expires").selectOption("30");
    await form.getByRole("button", { name: "Create key" }).click();

    const panel = page.getByTestId("api-key-secret");
    await panel.waitFor();
    await expect(panel.textContent()).resolves.toContain("you will not see it again");
    const secret = (await panel.getByTestId("secret-value").textContent())!;
    expect(secret).toMatch(/^qk_/);
    await panel.getByRole("button", { name: "Copy" }).click();
    await panel.getByText("Copied to the clipboard.").waitFor();
    await expect(page.evaluate<string>("navigator.clipboard.readText()")).resolves.toBe(secret);
    await screenshotBothWidths(page, "team-api-key-created");

    // The key works as a VIEWER of this team.
    const before = await apiGraphql(serve.apiUrl, "{ adapters { totalCount } }", {}, secret);
    expect(before).toMatchObject({ status: 200, data: { adapters: { totalCount: 0 } } });

    // Dismissed, the secret is gone from the page and was never stored by the browser.
    await panel.getByRole("button", { name: "I have copied it" }).click();
    await panel.waitFor({ state: "detached" });
    const row = page.getByTestId("api-key-row").filter({ hasText: "ci-bot" });
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain("Viewer");
    await expect(row.textContent()).resolves.toMatch(/in (30|29) days/);
    await expect(page.content()).resolves.not.toContain(secret);
    const stored = await page.evaluate<string>("JSON.stringify([Object.values(localStorage), Object.values(sessionStorage)])");
    expect(stored).not.toContain(secret);

    await row.getByRole("button", { name: /Revoke the key ci-bot/ }).click();
    const dialog = page.getByRole("dialog", { name: "Revoke this API key?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Revoke key" }).click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByTestId("api-keys-empty").waitFor();
    await page.getByLabel("Show revoked keys").check();
    await expect(page.getByTestId("api-key-row").filter({ hasText: "ci-bot" }).textContent()).resolves.toContain("revoked");

    const after = await apiGraphql(serve.apiUrl, "{ adapters { totalCount } }", {}, secret);
    expect(after.status).toBe(401);
  }, 60_000);

  let invitationLink: string;

  test("an invitation: the token shown once with its accept link, listed until used", async () => {
    const form = page.getByRole("form", { name: "Invite a member" });
    await form.getByLabel("Email").fill(invitee.email);
    await form.getByLabel("Role").selectOption("VIEWER");
    await form.getByRole("button", { name: "Invite" }).click();
    const panel = page.getByTestId("invitation-secret");
    await panel.waitFor();
    const token = (await panel.getByTestId("secret-value").textContent())!;
    expect(token).toMatch(/^qi_/);
    invitationLink = (await panel.getByTestId("invitation-link").textContent())!;
    expect(invitationLink).toBe(`${serve.webUrl}/accept-invite?token=${token}`);
    await expect(panel.getByRole("button", { name: "Copy link" }).isVisible()).resolves.toBe(true);
    await expect(page.getByTestId("invitation-row").filter({ hasText: invitee.email }).textContent()).resolves.toContain("Viewer");
    await panel.getByRole("button", { name: "I have copied it" }).click();
    await expect(page.content()).resolves.not.toContain(token);
  }, 30_000);

  test("the invitee accepts in a second browser context and lands in the team as a viewer", async () => {
    inviteeContext = await browser.newContext({ viewport: laptop });
    inviteePage = await inviteeContext.newPage();
    collectConsoleErrors(inviteePage, consoleErrors, "invitee");
    await inviteePage.goto(invitationLink);
    await inviteePage.getByRole("heading", { name: "Create your account" }).waitFor();
    await screenshotBothWidths(inviteePage, "accept-invite");
    await inviteePage.getByLabel("Name (optional)").fill(invitee.name);
    await inviteePage.getByLabel("Password", { exact: true }).fill(invitee.password);
    await inviteePage.getByLabel("Repeat the password").fill("not-the-same-password");
    await inviteePage.getByRole("button", { name: "Create account and join" }).click();
    await inviteePage.getByText("The passwords differ.").waitFor();
    await inviteePage.getByLabel("Repeat the password").fill(invitee.password);
    await inviteePage.getByRole("button", { name: "Create account and join" }).click();
    await inviteePage.waitForURL(/\/team$/);
    await expect(inviteePage.getByTestId("user-email").textContent()).resolves.toBe(invitee.email);
    await inviteePage.locator(`[data-testid=member-row][data-email="${owner.email}"]`).waitFor();
    await expect(inviteePage.locator(".page-title").textContent()).resolves.toContain("Viewer");
  }, 60_000);

  test("a viewer sees members only: no invite, role, key or audit controls", async () => {
    await inviteePage.getByTestId("role-note").waitFor();
    await expect(inviteePage.getByRole("form", { name: "Invite a member" }).count()).resolves.toBe(0);
    await expect(inviteePage.getByRole("form", { name: "Create an API key" }).count()).resolves.toBe(0);
    await expect(inviteePage.getByRole("heading", { name: "API keys" }).count()).resolves.toBe(0);
    await expect(inviteePage.getByRole("heading", { name: "Audit log" }).count()).resolves.toBe(0);
    await expect(inviteePage.getByRole("combobox", { name: /^Role of/ }).count()).resolves.toBe(0);
    await expect(inviteePage.getByRole("button", { name: "Remove" }).count()).resolves.toBe(0);
    // Only their own membership offers an action: leaving.
    await expect(inviteePage.getByRole("button", { name: "Leave team" }).count()).resolves.toBe(1);
    await screenshotBothWidths(inviteePage, "team-viewer");
    await inviteePage.getByRole("link", { name: "Adapters" }).click();
    await inviteePage.getByTestId("adapters-empty").waitFor();
    await screenshotBothWidths(inviteePage, "adapters-viewer");
  }, 60_000);

  test("the owner promotes the viewer to admin; the admin then offers no role above their own", async () => {
    await page.reload();
    const row = page.locator(`[data-testid=member-row][data-email="${invitee.email}"]`);
    await row.waitFor();
    await expect(page.getByTestId("invitation-row").count()).resolves.toBe(0); // accepted, no longer open
    const select = row.getByRole("combobox", { name: `Role of ${invitee.email}` });
    await select.selectOption("ADMIN");
    const ownerToken = await page.evaluate<string>("localStorage.getItem('quiver.token')");
    await waitUntil("the API has the invitee as ADMIN", async () => {
      const r = await apiGraphql<{ teams: { members: { role: string; user: { email: string } }[] }[] }>(
        serve.apiUrl,
        "{ teams { members { role user { email } } } }",
        {},
        ownerToken,
      );
      return r.data!.teams[0]!.members.some((m) => m.user.email === invitee.email && m.role === "ADMIN");
    });
    await waitUntil("the row shows the saved role", async () => (await select.isEnabled()) && (await select.inputValue()) === "ADMIN");
    await expect(row.getByRole("alert").count()).resolves.toBe(0);

    await inviteePage.goto(`${serve.webUrl}/team`);
    const invite = inviteePage.getByRole("form", { name: "Invite a member" });
    await invite.waitFor();
    const offered = await invite.getByLabel("Role").locator("option").allTextContents();
    expect(offered).toEqual(["Admin", "Member", "Viewer"]);
    // The owner outranks an admin: no controls on the owner's row.
    const ownerRow = inviteePage.locator(`[data-testid=member-row][data-email="${owner.email}"]`);
    await expect(ownerRow.getByRole("combobox").count()).resolves.toBe(0);
    await expect(ownerRow.getByRole("button").count()).resolves.toBe(0);
  }, 60_000);

  test("a signed-in user joins a second team as themselves", async () => {
    const ownerToken = await page.evaluate<string>("localStorage.getItem('quiver.token')");
    const created = await apiGraphql<{ createTeam: { id: string } }>(
      serve.apiUrl,
      `mutation { createTeam(name: "Research", slug: "research") { id } }`,
      {},
      ownerToken,
    );
    const invited = await apiGraphql<{ inviteMember: { token: string } }>(
      serve.apiUrl,
      `mutation($t: ID!, $e: String!) { inviteMember(teamId: $t, email: $e, role: MEMBER) { token } }`,
      { t: created.data!.createTeam.id, e: invitee.email },
      ownerToken,
    );
    await inviteePage.goto(`${serve.webUrl}/accept-invite?token=${invited.data!.inviteMember.token}`);
    await inviteePage.getByRole("button", { name: `Join as ${invitee.email}` }).click();
    await inviteePage.waitForURL(/\/team$/);
    await expect(inviteePage.getByRole("heading", { level: 1 }).textContent()).resolves.toBe("Research");
    await expect(inviteePage.locator(".page-title").textContent()).resolves.toContain("Member");
    const teams = await inviteePage.getByRole("combobox", { name: "Team" }).locator("option").allTextContents();
    expect(teams.sort()).toEqual(["Default (admin)", "Research (member)"]);
  }, 60_000);

  test("the API's refusal to demote the last owner is shown in that member's row", async () => {
    const row = page.locator(`[data-testid=member-row][data-email="${owner.email}"]`);
    await row.getByRole("combobox", { name: `Role of ${owner.email}` }).selectOption("MEMBER");
    const alert = row.getByRole("alert");
    await alert.waitFor();
    await expect(alert.textContent()).resolves.toMatch(/owner/i);
    await expect(row.getByRole("combobox").inputValue()).resolves.toBe("OWNER");
    await screenshotBothWidths(page, "team-owner-error");
  }, 30_000);

  test("the audit log lists the actions newest first", async () => {
    await page.getByRole("region", { name: "Audit log" }).getByRole("button", { name: "Refresh" }).click();
    await page.locator('[data-testid=audit-log] li[data-action="member.role"]').first().waitFor();
    const actions = await page.locator("[data-testid=audit-log] li").evaluateAll((items) => items.map((li) => li.getAttribute("data-action")));
    expect(actions).toEqual(["member.role", "invitation.accept", "invitation.create", "apikey.revoke", "apikey.create", "server.bootstrap"]);
    await screenshotBothWidths(page, "team-audit-log");
  }, 30_000);

  test("no console errors in either browser context", () => {
    expect(consoleErrors).toEqual([]);
  });
});
