// Teams, members, invitations and API keys over the real API (PGlite), with the audit trail.
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { gql, login, startTestServer } from "../helpers/server.js";

let quiver: Quiver;
let url: string;
let owner: string;
let teamId: string;
const h = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  quiver = await startTestServer(await openCatalog({}));
  url = quiver.api.url;
  owner = await login(url);
  const r = await gql<{ teams: { id: string }[] }>(url, `{ teams { id } }`, {}, h(owner));
  teamId = r.data!.teams[0]!.id;
}, 60_000);
afterAll(() => quiver?.close());

async function invite(token: string, team: string, email: string, role: string) {
  return gql<{ inviteMember: { token: string; invitation: { id: string } } }>(
    url,
    `mutation($t: ID!, $e: String!, $r: Role!) { inviteMember(teamId: $t, email: $e, role: $r) { token invitation { id email role } } }`,
    { t: team, e: email, r: role },
    h(token),
  );
}

async function join(email: string, role: string): Promise<{ token: string; userId: string }> {
  const inv = await invite(owner, teamId, email, role);
  const acc = await gql<{ acceptInvitation: { token: string; user: { id: string } } }>(
    url,
    `mutation($k: String!) { acceptInvitation(token: $k, password: "a-long-password-1", name: "N") { token user { id } } }`,
    { k: inv.data!.inviteMember.token },
  );
  return { token: acc.data!.acceptInvitation.token, userId: acc.data!.acceptInvitation.user.id };
}

test("invitations: a new user joins with the invited role; the token is single-use and stored hashed", async () => {
  const inv = await invite(owner, teamId, "New.Person@Example.test", "MEMBER");
  expect(inv.data!.inviteMember.token).toMatch(/^qi_/);
  const stored = await quiver.services.catalog.prisma.invitation.findUniqueOrThrow({ where: { id: inv.data!.inviteMember.invitation.id } });
  expect(stored.email).toBe("new.person@example.test");
  expect(stored.tokenHash).not.toContain(inv.data!.inviteMember.token);
  const q = `mutation($k: String!) { acceptInvitation(token: $k, password: "a-long-password-1") { token user { email memberships { role team { id } } } } }`;
  const acc = await gql<{ acceptInvitation: { user: { email: string; memberships: { role: string; team: { id: string } }[] } } }>(url, q, {
    k: inv.data!.inviteMember.token,
  });
  expect(acc.data!.acceptInvitation.user).toEqual({ email: "new.person@example.test", memberships: [{ role: "MEMBER", team: { id: teamId } }] });
  const again = await gql(url, q, { k: inv.data!.inviteMember.token });
  expect(again.errors![0]!.extensions!.code).toBe("NOT_FOUND");
  expect(await login(url, "new.person@example.test", "a-long-password-1")).toMatch(/^qs_/);
});

test("an invitation for an existing user needs that user signed in", async () => {
  const other = await gql<{ createTeam: { id: string } }>(url, `mutation { createTeam(name: "Second", slug: "second") { id } }`, {}, h(owner));
  const m = await join("existing@example.test", "VIEWER");
  const inv = await invite(owner, other.data!.createTeam.id, "existing@example.test", "ADMIN");
  const q = `mutation($k: String!) { acceptInvitation(token: $k) { user { email } } }`;
  const anonymous = await gql(url, q, { k: inv.data!.inviteMember.token });
  expect(anonymous.errors![0]!.extensions!.code).toBe("UNAUTHENTICATED");
  const wrongUser = await gql(url, q, { k: inv.data!.inviteMember.token }, h(owner));
  expect(wrongUser.errors![0]!.extensions!.code).toBe("UNAUTHENTICATED");
  const ok = await gql(url, q, { k: inv.data!.inviteMember.token }, h(m.token));
  expect(ok.data).toEqual({ acceptInvitation: { user: { email: "existing@example.test" } } });
  const dup = await gql(url, `mutation { createTeam(name: "Again", slug: "second") { id } }`, {}, h(owner));
  expect(dup.errors![0]!.extensions!.code).toBe("CONFLICT");
});

test("API keys: shown once, stored hashed, act with their role in their team, stop working when revoked", async () => {
  const created = await gql<{ createApiKey: { secret: string; apiKey: { id: string; prefix: string; role: string } } }>(
    url,
    `mutation($t: ID!) { createApiKey(teamId: $t, name: "ci", role: VIEWER) { secret apiKey { id prefix role } } }`,
    { t: teamId },
    h(owner),
  );
  const { secret, apiKey } = created.data!.createApiKey;
  expect(secret.startsWith(apiKey.prefix + "_")).toBe(true);
  const row = await quiver.services.catalog.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } });
  expect(row.secretHash).toMatch(/^[0-9a-f]{64}$/);
  // The secret part follows "qk_<prefix>_" and may itself contain "_" (base64url).
  const secretPart = secret.split("_").slice(2).join("_");
  expect(secretPart.length).toBeGreaterThan(20);
  expect(JSON.stringify(row)).not.toContain(secretPart);

  const list = await gql<{ adapters: { totalCount: number } }>(url, `{ adapters { totalCount } }`, {}, h(secret));
  expect(list.data!.adapters.totalCount).toBe(0);
  const used = await quiver.services.catalog.prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } });
  expect(used.lastUsedAt).not.toBeNull();
  // Keys do not manage teams, even their own.
  const manage = await gql(url, `mutation($t: ID!) { createApiKey(teamId: $t, name: "x") { secret } }`, { t: teamId }, h(secret));
  expect(manage.errors![0]!.extensions!.code).toBe("FORBIDDEN");

  const listed = await gql<{ team: { apiKeys: { prefix: string; lastUsedAt: string | null }[] } }>(
    url,
    `query($t: ID!) { team(id: $t) { apiKeys { prefix lastUsedAt } } }`,
    { t: teamId },
    h(owner),
  );
  expect(listed.data!.team.apiKeys.map((k) => k.prefix)).toContain(apiKey.prefix);
  expect(JSON.stringify(listed.data)).not.toContain(secret);

  await gql(url, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: apiKey.id }, h(owner));
  const after = await gql(url, `{ adapters { totalCount } }`, {}, h(secret));
  expect(after.status).toBe(401);
});

test("roles: nobody grants above their own role, and a team keeps an owner", async () => {
  const admin = await join("admin2@example.test", "ADMIN");
  const member = await join("member2@example.test", "MEMBER");
  const change = `mutation($t: ID!, $u: ID!, $r: Role!) { changeMemberRole(teamId: $t, userId: $u, role: $r) { role } }`;
  expect((await gql(url, change, { t: teamId, u: member.userId, r: "OWNER" }, h(admin.token))).errors![0]!.extensions!.code).toBe("FORBIDDEN");
  expect((await gql(url, change, { t: teamId, u: member.userId, r: "VIEWER" }, h(admin.token))).data).toEqual({ changeMemberRole: { role: "VIEWER" } });
  expect(
    (await gql(url, `mutation($t: ID!) { createApiKey(teamId: $t, name: "k", role: OWNER) { secret } }`, { t: teamId }, h(admin.token))).errors![0]!.extensions!
      .code,
  ).toBe("FORBIDDEN");
  const me = await gql<{ me: { id: string } }>(url, `{ me { id } }`, {}, h(owner));
  const demoteSelf = await gql(url, change, { t: teamId, u: me.data!.me.id, r: "ADMIN" }, h(owner));
  expect(demoteSelf.errors![0]).toMatchObject({ extensions: { code: "CONFLICT" } });
  // Removing a member revokes the API keys they made in the team.
  const key = await gql<{ createApiKey: { secret: string } }>(
    url,
    `mutation($t: ID!) { createApiKey(teamId: $t, name: "a2", role: ADMIN) { secret } }`,
    { t: teamId },
    h(admin.token),
  );
  expect((await gql(url, `mutation($t: ID!, $u: ID!) { removeMember(teamId: $t, userId: $u) }`, { t: teamId, u: admin.userId }, h(owner))).data).toEqual({
    removeMember: true,
  });
  expect((await gql(url, `{ adapters { totalCount } }`, {}, h(key.data!.createApiKey.secret))).status).toBe(401);
});

test("quotas: server administrators set and clear them (setTeamQuotas); the owner renames the team but sets no quotas", async () => {
  // The bootstrap owner here is also the server administrator (test/api/quotas.test.ts has an owner who is not).
  const q = `mutation($t: ID!, $q: QuotaInput!) { setTeamQuotas(teamId: $t, quotas: $q) { quotas { tokensPerDay requestsPerMinute concurrentGenerations storageBytes } } }`;
  const set = await gql<{ setTeamQuotas: { quotas: Record<string, number | null> } }>(
    url,
    q,
    { t: teamId, q: { tokensPerDay: 1000, storageBytes: 5e9 } },
    h(owner),
  );
  expect(set.data!.setTeamQuotas.quotas).toEqual({ tokensPerDay: 1000, requestsPerMinute: null, concurrentGenerations: null, storageBytes: 5e9 });
  const cleared = await gql<{ setTeamQuotas: { quotas: Record<string, number | null> } }>(url, q, { t: teamId, q: { tokensPerDay: null } }, h(owner));
  expect(cleared.data!.setTeamQuotas.quotas.tokensPerDay).toBeNull();
  expect(cleared.data!.setTeamQuotas.quotas.storageBytes).toBe(5e9);
  const bad = await gql(url, q, { t: teamId, q: { tokensPerDay: -1 } }, h(owner));
  expect(bad.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
  const admin = await join("admin3@example.test", "ADMIN");
  expect((await gql(url, q, { t: teamId, q: { tokensPerDay: 1 } }, h(admin.token))).errors![0]!.extensions!.code).toBe("FORBIDDEN");
  const renamed = await gql<{ updateTeam: { name: string } }>(
    url,
    `mutation($t: ID!) { updateTeam(id: $t, name: "Default") { name } }`,
    { t: teamId },
    h(owner),
  );
  expect(renamed.data!.updateTeam.name).toBe("Default");
  const viaUpdate = await gql(url, `mutation($t: ID!) { updateTeam(id: $t, quotas: { tokensPerDay: 1 }) { name } }`, { t: teamId }, h(owner));
  expect(viaUpdate.errors![0]!.extensions!.code).toBe("GRAPHQL_VALIDATION_FAILED");
});

test("every administrative action is in the audit log, newest first, with its actor", async () => {
  const r = await gql<{ team: { auditLog: { action: string; actor: { email: string } | null }[] } }>(
    url,
    `query($t: ID!) { team(id: $t) { auditLog(first: 200) { action actor { email } } } }`,
    { t: teamId },
    h(owner),
  );
  const actions = r.data!.team.auditLog.map((e) => e.action);
  for (const a of [
    "server.bootstrap",
    "invitation.create",
    "invitation.accept",
    "apikey.create",
    "apikey.revoke",
    "member.role",
    "member.remove",
    "team.update",
    "team.quotas",
  ]) {
    expect(actions).toContain(a);
  }
  expect(actions.at(-1)).toBe("server.bootstrap");
});

test("invitationPreview tells what a token is for; accepting shows the new membership at once; the audit log pages by cursor", async () => {
  const inv = await invite(owner, teamId, "preview@example.test", "MEMBER");
  const token = inv.data!.inviteMember.token;
  const preview = await gql<{ invitationPreview: { email: string; role: string; teamName: string } | null }>(
    url,
    `query($t: String!) { invitationPreview(token: $t) { email role teamName } }`,
    { t: token },
  );
  expect(preview.data!.invitationPreview).toEqual({ email: "preview@example.test", role: "MEMBER", teamName: "Default" });
  expect((await gql(url, `{ invitationPreview(token: "qi_nope") { email } }`)).data).toEqual({ invitationPreview: null });

  // A signed-in user joining another team sees it in the payload right away.
  const second = await gql<{ createTeam: { id: string } }>(url, `mutation { createTeam(name: "Third", slug: "third") { id } }`, {}, h(owner));
  const m = await join("joiner@example.test", "VIEWER");
  const inv2 = await invite(owner, second.data!.createTeam.id, "joiner@example.test", "MEMBER");
  const acc = await gql<{ acceptInvitation: { user: { memberships: { team: { id: string } }[] } } }>(
    url,
    `mutation($k: String!) { acceptInvitation(token: $k) { user { memberships { team { id } } } } }`,
    { k: inv2.data!.inviteMember.token },
    h(m.token),
  );
  expect(acc.data!.acceptInvitation.user.memberships.map((x) => x.team.id)).toContain(second.data!.createTeam.id);
  expect((await gql(url, `query($t: String!) { invitationPreview(token: $t) { email } }`, { t: inv2.data!.inviteMember.token })).data).toEqual({
    invitationPreview: null,
  });

  // Paging by cursor visits every entry once, newest first, even with equal timestamps.
  const all = await gql<{ team: { auditLog: { id: string }[] } }>(
    url,
    `query($t: ID!) { team(id: $t) { auditLog(first: 200) { id } } }`,
    { t: teamId },
    h(owner),
  );
  const seen: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await gql<{ team: { auditLog: { id: string; cursor: string }[] } }>(
      url,
      `query($t: ID!, $a: String) { team(id: $t) { auditLog(first: 3, after: $a) { id cursor } } }`,
      { t: teamId, a: after },
      h(owner),
    );
    const entries = page.data!.team.auditLog;
    seen.push(...entries.map((e) => e.id));
    if (entries.length < 3) break;
    after = entries.at(-1)!.cursor;
  }
  expect(seen).toEqual(all.data!.team.auditLog.map((e) => e.id));
  const bad = await gql(url, `query($t: ID!) { team(id: $t) { auditLog(after: "garbage") { id } } }`, { t: teamId }, h(owner));
  expect(bad.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
});

test("viewerPermissions says what the caller may do, from the policy module", async () => {
  const viewer = await join("perm-viewer@example.test", "VIEWER");
  const q = `query($t: ID!) { team(id: $t) { viewerRole viewerPermissions } }`;
  const o = await gql<{ team: { viewerPermissions: string[] } }>(url, q, { t: teamId }, h(owner));
  expect(o.data!.team.viewerPermissions).toEqual(expect.arrayContaining(["team.manage", "apikey.manage", "adapter.delete", "generate"]));
  const v = await gql<{ team: { viewerRole: string; viewerPermissions: string[] } }>(url, q, { t: teamId }, h(viewer.token));
  expect(v.data!.team).toEqual({ viewerRole: "VIEWER", viewerPermissions: ["team.read", "adapter.read", "usage.read", "member.read"] });
  const key = await gql<{ createApiKey: { secret: string } }>(
    url,
    `mutation($t: ID!) { createApiKey(teamId: $t, name: "perm", role: ADMIN) { secret } }`,
    { t: teamId },
    h(owner),
  );
  const k = await gql<{ team: { viewerPermissions: string[] } }>(url, q, { t: teamId }, h(key.data!.createApiKey.secret));
  expect(k.data!.team.viewerPermissions).not.toContain("apikey.manage");
  expect(k.data!.team.viewerPermissions).toContain("adapter.delete");
});
