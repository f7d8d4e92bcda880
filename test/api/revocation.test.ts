/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Access that changes while it is in use: a demoted member's API keys are capped at the new
// role, a removed member's keys are revoked, and open subscriptions (pool events, generation
// streams) re-check access before each event and end with ACCESS_REVOKED when the session is
// signed out, the key revoked, or the member demoted below the needed role or removed (a
// generation whose stream is revoked is cancelled). A generation's record, stream and
// cancellation belong to its creator and to the team's ADMIN and OWNER.
import {
  ask,
  createKey,
  inviteUser,
  leaks,
  plantedMarkers,
  startGateFixture,
  subscribe,
  type GateFixture,
  type Role,
  type Subscription,
} from "../helpers/gate-fixture.js";
import { storiesSkipReason } from "../helpers/stories.js";
import { waitUntil } from "../helpers/wait.js";

let f: GateFixture;
const STORIES_SKIP = storiesSkipReason();
if (STORIES_SKIP) console.log(`Skipping the generation-stream revocation tests: ${STORIES_SKIP}`);
const withModel = STORIES_SKIP ? test.skip : test;

beforeAll(async () => {
  f = await startGateFixture();
}, 240_000);
afterAll(() => f?.close());

let people = 0;
/** A new member of team a with `role`. */
async function member(role: Role): Promise<{ token: string; userId: string }> {
  return inviteUser(f.url, f.teams.a.ownerToken, f.teams.a.id, `person-${++people}@example.test`, role);
}

const code = (r: { errors?: { extensions?: { code?: unknown } }[] }) => r.errors?.[0]?.extensions?.code;
const owner = () => f.teams.a.ownerToken;

async function changeRole(userId: string, role: Role): Promise<void> {
  const r = await ask(f, owner(), `mutation($t: ID!, $u: ID!, $r: Role!) { changeMemberRole(teamId: $t, userId: $u, role: $r) { role } }`, {
    t: f.teams.a.id,
    u: userId,
    r: role,
  });
  expect(r.errors).toBeUndefined();
}
async function removeMember(userId: string): Promise<void> {
  const r = await ask(f, owner(), `mutation($t: ID!, $u: ID!) { removeMember(teamId: $t, userId: $u) }`, { t: f.teams.a.id, u: userId });
  expect(r.errors).toBeUndefined();
}
async function keyRoles(): Promise<Record<string, { role: string; revoked: boolean }>> {
  const r = await ask<{ team: { apiKeys: { name: string; role: string; revokedAt: string | null }[] } }>(
    f,
    owner(),
    `query($t: ID!) { team(id: $t) { apiKeys(includeRevoked: true) { name role revokedAt } } }`,
    { t: f.teams.a.id },
  );
  return Object.fromEntries(r.data!.team.apiKeys.map((k) => [k.name, { role: k.role, revoked: k.revokedAt !== null }]));
}
/** A fresh adapter row of team a (for deletion and edits). */
async function freshAdapter(): Promise<string> {
  const prisma = f.quiver.services.catalog.prisma;
  const model = await prisma.baseModel.findFirstOrThrow();
  return (
    await prisma.adapter.create({
      data: { teamId: f.teams.a.id, name: `fresh-${Math.random().toString(36).slice(2, 10)}`, baseModelId: model.id, status: "ACTIVE" },
    })
  ).id;
}

/** What an ADMIN (key or user) may do and a VIEWER may not, each as the code it got (undefined: allowed). */
async function adminThings(token: string): Promise<Record<string, unknown>> {
  const a = f.teams.a;
  return {
    "audit log": code(await ask(f, token, `query($t: ID!) { team(id: $t) { auditLog(first: 1) { action } } }`, { t: a.id })),
    "add a public adapter to the pool": code(await ask(f, token, `mutation($id: ID!) { addPublicAdapter(adapterId: $id) { id } }`, { id: f.toggle.id })),
    "remove it again": code(await ask(f, token, `mutation($id: ID!) { removePublicAdapter(adapterId: $id) }`, { id: f.toggle.id })),
    "delete an adapter": code(await ask(f, token, `mutation($id: ID!) { deleteAdapter(id: $id) }`, { id: await freshAdapter() })),
    "publish an adapter": code(
      await ask(f, token, `mutation($id: ID!) { updateAdapter(id: $id, changes: { visibility: PUBLIC }) { id } }`, { id: await freshAdapter() }),
    ),
    "edit an adapter (MEMBER)": code(
      await ask(f, token, `mutation($id: ID!) { updateAdapter(id: $id, changes: { description: "edited" }) { id } }`, { id: await freshAdapter() }),
    ),
    "read the adapters (VIEWER)": code(await ask(f, token, `{ adapters(first: 5) { totalCount } }`)),
  };
}
const ALLOWED_TO_ADMIN = {
  "audit log": undefined,
  "add a public adapter to the pool": undefined,
  "remove it again": undefined,
  "delete an adapter": undefined,
  "publish an adapter": undefined,
  "edit an adapter (MEMBER)": undefined,
  "read the adapters (VIEWER)": undefined,
};
const ALLOWED_TO_VIEWER = {
  "audit log": "FORBIDDEN",
  "add a public adapter to the pool": "FORBIDDEN",
  "remove it again": "FORBIDDEN",
  "delete an adapter": "FORBIDDEN",
  "publish an adapter": "FORBIDDEN",
  "edit an adapter (MEMBER)": "FORBIDDEN",
  "read the adapters (VIEWER)": undefined,
};

const LONG = { prompt: "Once upon a time", strategy: "NONE", maxTokens: 450, ignoreEos: true };

/**
 * Eight background streams keep the engine busy so that a 450-token generation lasts far
 * longer than an HTTP round trip (stories260K alone writes 450 tokens in tens of ms).
 */
async function withBusyEngine<T>(fn: () => Promise<T>): Promise<T> {
  const subs = Array.from({ length: 8 }, (_, i) =>
    subscribe(f.url, owner(), `subscription($i: GenerateInput!) { generate(input: $i) { delta done } }`, {
      i: { ...LONG, prompt: `Busy ${i}`, temperature: 1, seed: i },
    }),
  );
  try {
    await waitUntil(
      "the background streams are generating",
      () => subs.every((s) => s.events.some((e) => (e.data as { generate: { delta: string | null } } | null)?.generate.delta)),
      30_000,
    );
    return await fn();
  } finally {
    await Promise.all(subs.map((s) => s.stop()));
    await f.quiver.services.generation!.idle();
  }
}

describe("demotion and removal", () => {
  test("demoting an ADMIN to VIEWER caps their ADMIN key to VIEWER: neither can do ADMIN things any more", async () => {
    const admin = await member("ADMIN");
    const key = await createKey(f.url, admin.token, f.teams.a.id, "ADMIN", "demoted-admin-key");
    // Another ADMIN's key: untouched by someone else's demotion.
    const bystander = await member("ADMIN");
    const bystanderKey = await createKey(f.url, bystander.token, f.teams.a.id, "ADMIN", "bystander-admin-key");
    expect(await adminThings(key.secret)).toEqual(ALLOWED_TO_ADMIN);

    await changeRole(admin.userId, "VIEWER");
    expect(await keyRoles()).toMatchObject({
      "demoted-admin-key": { role: "VIEWER", revoked: false },
      "bystander-admin-key": { role: "ADMIN", revoked: false },
    });
    expect(await adminThings(key.secret)).toEqual(ALLOWED_TO_VIEWER);
    expect(await adminThings(admin.token)).toEqual(ALLOWED_TO_VIEWER);
    expect(code(await ask(f, admin.token, `mutation($t: ID!) { createApiKey(teamId: $t, name: "again", role: VIEWER) { secret } }`, { t: f.teams.a.id }))).toBe(
      "FORBIDDEN",
    );
    expect(await adminThings(bystanderKey.secret)).toEqual(ALLOWED_TO_ADMIN);
    // Promoting the member again does not raise the capped key.
    await changeRole(admin.userId, "ADMIN");
    expect((await keyRoles())["demoted-admin-key"]).toEqual({ role: "VIEWER", revoked: false });
    expect(await adminThings(key.secret)).toEqual(ALLOWED_TO_VIEWER);
  }, 60_000);

  test("demoting an ADMIN to MEMBER caps their ADMIN key to MEMBER and leaves a lower key as it was", async () => {
    const admin = await member("ADMIN");
    const high = await createKey(f.url, admin.token, f.teams.a.id, "ADMIN", "to-member-admin-key");
    await createKey(f.url, admin.token, f.teams.a.id, "VIEWER", "to-member-viewer-key");
    await changeRole(admin.userId, "MEMBER");
    expect(await keyRoles()).toMatchObject({ "to-member-admin-key": { role: "MEMBER" }, "to-member-viewer-key": { role: "VIEWER" } });
    expect(await adminThings(high.secret)).toEqual({ ...ALLOWED_TO_VIEWER, "edit an adapter (MEMBER)": undefined });
  }, 60_000);

  test("removing a member revokes their keys; their session no longer reaches the team", async () => {
    const a = f.teams.a;
    const admin = await member("ADMIN");
    const keys = [
      await createKey(f.url, admin.token, a.id, "ADMIN", "removed-admin-key"),
      await createKey(f.url, admin.token, a.id, "VIEWER", "removed-viewer-key"),
    ];
    expect(code(await ask(f, keys[0]!.secret, `{ adapters { totalCount } }`))).toBeUndefined();
    await removeMember(admin.userId);
    expect(await keyRoles()).toMatchObject({ "removed-admin-key": { revoked: true }, "removed-viewer-key": { revoked: true } });
    for (const k of keys) {
      expect(code(await ask(f, k.secret, `{ adapters { totalCount } }`))).toBe("UNAUTHENTICATED");
      expect((await fetch(`${f.url}/v1/models`, { headers: { authorization: `Bearer ${k.secret}` } })).status).toBe(401);
    }
    const reads = await Promise.all([
      ask(f, admin.token, `query($t: ID!) { team(id: $t) { id name } }`, { t: a.id }),
      ask(f, admin.token, `query($t: ID) { adapters(teamId: $t) { edges { node { name } } } }`, { t: a.id }),
      ask(f, admin.token, `query($id: ID!) { adapter(id: $id) { name samples } }`, { id: a.privateIds[0] }),
      ask(f, admin.token, `{ teams { id } }`),
    ]);
    expect(reads.map((r) => r.data)).toEqual([{ team: null }, null, { adapter: null }, { teams: [] }]);
    expect(code(reads[1]!)).toBe("NOT_FOUND");
    expect(leaks(f, [], reads)).toEqual([]);
  });

  test("a member who leaves the team loses their keys too", async () => {
    const admin = await member("ADMIN");
    const key = await createKey(f.url, admin.token, f.teams.a.id, "ADMIN", "leaver-key");
    const left = await ask(f, admin.token, `mutation($t: ID!, $u: ID!) { removeMember(teamId: $t, userId: $u) }`, { t: f.teams.a.id, u: admin.userId });
    expect(left.errors).toBeUndefined();
    expect(code(await ask(f, key.secret, `{ adapters { totalCount } }`))).toBe("UNAUTHENTICATED");
  });
});

describe("open poolEvents subscriptions", () => {
  const POOL_EVENTS = `subscription { poolEvents { kind adapterId adapter { name description samples } } }`;
  let seq = 0;
  /** Publishes an update of team a's private adapter (every member sees it). */
  const publish = () =>
    f.quiver.services.poolEvents.publish({ kind: "UPDATED", adapterId: f.teams.a.privateIds[seq++ % 2]!, teamId: f.teams.a.id, visibility: "PRIVATE" });

  /** Opens the subscriptions and waits until each has seen one event of the team. */
  async function open(tokens: string[]): Promise<Subscription[]> {
    const before = f.quiver.services.poolEvents.subscriberCount;
    const subs = tokens.map((t) => subscribe(f.url, t, POOL_EVENTS));
    await waitUntil("the subscriptions are registered", () => f.quiver.services.poolEvents.subscriberCount >= before + subs.length);
    publish();
    await waitUntil("each saw the team's event", () => subs.every((s) => s.events.length === 1));
    expect(subs.map((s) => JSON.stringify(s.events[0]).includes(plantedMarkers("a").name))).toEqual(subs.map(() => true));
    return subs;
  }

  /** After the change: the next event ends `revoked` with ACCESS_REVOKED (nothing more delivered) while `kept` still get it. */
  async function expectRevoked(revoked: Subscription[], kept: Subscription[]): Promise<void> {
    publish();
    const ends = await Promise.all(revoked.map((s) => s.ended));
    expect(ends.map((e) => e.errors?.[0]?.extensions?.code)).toEqual(revoked.map(() => "ACCESS_REVOKED"));
    expect(revoked.map((s) => s.events.length)).toEqual(revoked.map(() => 1));
    await waitUntil("the others got the event", () => kept.every((s) => s.events.length === 2));
    // Events published later reach nobody whose access ended.
    publish();
    await waitUntil("the others got the next event", () => kept.every((s) => s.events.length === 3));
    expect(revoked.map((s) => s.events.length)).toEqual(revoked.map(() => 1));
    for (const s of [...revoked, ...kept]) await s.stop();
  }

  test("of a member who is then removed (as the user and as its key) end with ACCESS_REVOKED and get no further events", async () => {
    const leaving = await member("ADMIN");
    const leavingKey = await createKey(f.url, leaving.token, f.teams.a.id, "VIEWER", "leaving-viewer-key");
    const staying = await member("VIEWER");
    const [user, key, other] = await open([leaving.token, leavingKey.secret, staying.token]);
    await removeMember(leaving.userId);
    await expectRevoked([user!, key!], [other!]);
  }, 30_000);

  test("end with ACCESS_REVOKED when the session is signed out or the key revoked", async () => {
    const signingOut = await member("VIEWER");
    const key = await createKey(f.url, owner(), f.teams.a.id, "VIEWER", "revoked-while-subscribed");
    const staying = await member("VIEWER");
    const [session, keyed, other] = await open([signingOut.token, key.secret, staying.token]);
    expect(code(await ask(f, signingOut.token, `mutation { logout }`))).toBeUndefined();
    expect(code(await ask(f, owner(), `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: key.id }))).toBeUndefined();
    await expectRevoked([session!, keyed!], [other!]);
  }, 30_000);

  test("end with ACCESS_REVOKED when another process removed the member (no in-process signal)", async () => {
    const leaving = await member("VIEWER");
    const staying = await member("VIEWER");
    const [sub, other] = await open([leaving.token, staying.token]);
    await f.quiver.services.catalog.prisma.membership.delete({ where: { userId_teamId: { userId: leaving.userId, teamId: f.teams.a.id } } });
    // Within a second at most, pool events included (every event when they re-check each one).
    await new Promise((r) => setTimeout(r, 1100));
    await expectRevoked([sub!], [other!]);
  }, 30_000);
});

describe("generation streams", () => {
  interface Ev {
    generationId: string;
    delta: string | null;
    done: boolean;
    adapters: { adapter: { name: string } }[] | null;
  }
  const EVENT = `generationId delta done adapters { adapter { name } }`;

  const status = async (id: string) => (await f.quiver.services.catalog.prisma.generation.findUniqueOrThrow({ where: { id } })).status;
  const settled = async (id: string) => {
    await f.quiver.services.generation!.idle();
    await waitUntil("the generation is recorded as finished", async () => !["QUEUED", "PREFILL", "DECODE"].includes(await status(id)));
    return f.quiver.services.catalog.prisma.generation.findUniqueOrThrow({ where: { id } });
  };
  const events = (s: Subscription, field: string) => s.events.map((e) => (e.data as Record<string, Ev> | null)?.[field]).filter((e): e is Ev => !!e);

  /** Opens a generate stream and, at its first event, runs `change`; returns the stream and the generation's id. */
  async function streamThenChange(token: string, change: () => Promise<void>): Promise<{ sub: Subscription; id: string }> {
    const sub = subscribe(f.url, token, `subscription($i: GenerateInput!) { generate(input: $i) { ${EVENT} } }`, { i: LONG });
    await waitUntil("the stream started", () => sub.events.length > 0, 30_000);
    const id = events(sub, "generate")[0]!.generationId;
    await change();
    return { sub, id };
  }

  withModel(
    "a generate stream ends with ACCESS_REVOKED when its key is revoked, and its generation is cancelled",
    async () => {
      const key = await createKey(f.url, owner(), f.teams.a.id, "MEMBER", "streaming-key");
      const { sub, id, end } = await withBusyEngine(async () => {
        const r = await streamThenChange(key.secret, async () => {
          expect(code(await ask(f, owner(), `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: key.id }))).toBeUndefined();
        });
        return { ...r, end: await r.sub.ended };
      });
      expect(end.errors?.[0]?.extensions?.code).toBe("ACCESS_REVOKED");
      expect(events(sub, "generate").some((e) => e.done)).toBe(false);
      const record = await settled(id);
      expect(record.status).toBe("CANCELLED");
      expect(record.tokensOut).toBeLessThan(450);
      await sub.stop();
    },
    90_000,
  );

  withModel(
    "a generate stream ends with ACCESS_REVOKED when its MEMBER is demoted to VIEWER, and its generation is cancelled",
    async () => {
      const m = await member("MEMBER");
      const { sub, id, end } = await withBusyEngine(async () => {
        const r = await streamThenChange(m.token, () => changeRole(m.userId, "VIEWER"));
        return { ...r, end: await r.sub.ended };
      });
      expect(end.errors?.[0]?.extensions?.code).toBe("ACCESS_REVOKED");
      expect((await settled(id)).status).toBe("CANCELLED");
      await sub.stop();
    },
    90_000,
  );

  withModel(
    "an ADMIN watching a MEMBER's generation loses the stream when demoted; the generation goes on",
    async () => {
      const m = await member("MEMBER");
      const watcher = await member("ADMIN");
      const { watch, id, end } = await withBusyEngine(async () => {
        const started = await ask<{ generate: { id: string } }>(f, m.token, `mutation($i: GenerateInput!) { generate(input: $i) { id } }`, { i: LONG });
        const id = started.data!.generate.id;
        const watch = subscribe(f.url, watcher.token, `subscription($id: ID!) { generation(id: $id) { ${EVENT} } }`, { id });
        await waitUntil("the watcher sees the stream", () => watch.events.length > 0, 30_000);
        await changeRole(watcher.userId, "VIEWER");
        return { watch, id, end: await watch.ended };
      });
      expect(end.errors?.[0]?.extensions?.code).toBe("ACCESS_REVOKED");
      expect((await settled(id)).status).toBe("DONE");
      await watch.stop();
    },
    90_000,
  );
});

describe("a generation belongs to its creator and the team's ADMIN and OWNER", () => {
  const RECORD = `query($id: ID!) { generationRecord(id: $id) { id status } }`;
  const CANCEL = `mutation($id: ID!) { cancelGeneration(id: $id) { id status } }`;

  /** The first event of generation(id), or the error it ended with. */
  async function watch(token: string, id: string): Promise<unknown> {
    const s = subscribe(f.url, token, `subscription($id: ID!) { generation(id: $id) { generationId } }`, { id });
    try {
      await Promise.race([waitUntil("an event", () => s.events.length > 0, 10_000), s.ended]);
      const ended = await Promise.race([s.ended, Promise.resolve(undefined)]);
      // A refusal at subscribe time arrives as a payload with errors, then the stream completes.
      const first = s.events[0];
      if (first?.data) return "event";
      return (first?.errors ?? ended?.errors)?.[0]?.extensions?.code;
    } finally {
      await s.stop();
    }
  }

  withModel(
    "VIEWERs and other members get NOT_FOUND for its record, stream and cancellation; the creator and ADMIN get them",
    async () => {
      const creator = await member("MEMBER");
      const otherMember = await member("MEMBER");
      const viewer = await member("VIEWER");
      const admin = await member("ADMIN");
      const memberKey = await createKey(f.url, owner(), f.teams.a.id, "MEMBER", "another-member-key");
      const creatorKey = await createKey(f.url, owner(), f.teams.a.id, "MEMBER", "creating-member-key");
      const g = await ask<{ generate: { id: string } }>(
        f,
        creator.token,
        `mutation { generate(input: { prompt: "A cat", strategy: NONE, maxTokens: 2 }) { id } }`,
      );
      const byKey = await ask<{ generate: { id: string } }>(
        f,
        creatorKey.secret,
        `mutation { generate(input: { prompt: "A cat", strategy: NONE, maxTokens: 2 }) { id } }`,
      );
      const id = g.data!.generate.id;
      const keyId = byKey.data!.generate.id;
      await f.quiver.services.generation!.idle();
      const access = async (token: string, gid: string) => {
        const stream = await watch(token, gid);
        return {
          record: code(await ask(f, token, RECORD, { id: gid })) ?? "ok",
          stream: stream === "event" ? "ok" : stream,
          cancel: code(await ask(f, token, CANCEL, { id: gid })) ?? "ok",
        };
      };
      const denied = { record: "NOT_FOUND", stream: "NOT_FOUND", cancel: "NOT_FOUND" };
      const ok = { record: "ok", stream: "ok", cancel: "ok" };
      expect({
        viewer: await access(viewer.token, id),
        "another member": await access(otherMember.token, id),
        "a MEMBER key": await access(memberKey.secret, id),
        creator: await access(creator.token, id),
        admin: await access(admin.token, id),
        owner: await access(owner(), id),
        "the key that made one": await access(creatorKey.secret, keyId),
        "the member against a key's": await access(otherMember.token, keyId),
      }).toEqual({
        viewer: denied,
        "another member": denied,
        "a MEMBER key": denied,
        creator: ok,
        admin: ok,
        owner: ok,
        "the key that made one": ok,
        "the member against a key's": denied,
      });
    },
    60_000,
  );

  withModel(
    "another MEMBER cannot cancel a running generation; the team's ADMIN can",
    async () => {
      const creator = await member("MEMBER");
      const otherMember = await member("MEMBER");
      const admin = await member("ADMIN");
      const outcome = await withBusyEngine(async () => {
        const g = await ask<{ generate: { id: string } }>(f, creator.token, `mutation($i: GenerateInput!) { generate(input: $i) { id } }`, { i: LONG });
        const id = g.data!.generate.id;
        const refused = code(await ask(f, otherMember.token, CANCEL, { id }));
        const stillRunning = f.quiver.services.generation!.get(id)?.finished === false;
        const cancelled = await ask<{ cancelGeneration: { status: string } }>(f, admin.token, CANCEL, { id });
        return { id, refused, stillRunning, cancelled: cancelled.data?.cancelGeneration.status ?? code(cancelled) };
      });
      expect(outcome).toMatchObject({ refused: "NOT_FOUND", stillRunning: true, cancelled: "CANCELLED" });
    },
    90_000,
  );
});
