/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Limits on abuse of the upload route: archive bombs whose payload sits in entries the
// unpacker skips (refused with the coded error, quickly, nothing stored), and concurrent
// uploads per team and per server (refused with RATE_LIMITED and Retry-After before any byte
// is stored; the slot comes back however an upload ends).
import { randomUUID } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { jest } from "@jest/globals";
import type { Quiver } from "../../apps/api/src/app.js";
import type { Catalog } from "../../apps/api/src/catalog/database.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { gql, login } from "../helpers/server.js";
import { makeTar, tgzWithSkippedZeros, zipWithSkippedZeros } from "../helpers/archives.js";
import { waitUntil } from "../helpers/wait.js";
import { OTHER_MODEL, SAMPLES, adapterFiles, filesUnder, startPoolServer, writeAdapter, type UploadFile } from "../helpers/pool.js";

const PER_TEAM = 2;
const PER_SERVER = 3;
const EXPANSION = 256 * 1024;
const MiB = 1024 * 1024;

let catalog: Catalog;
let quiver: Quiver;
let url: string;
let token: string;
let dataDir: string;
let teamA: string;
let teamB: string;

beforeAll(async () => {
  catalog = await openCatalog({});
  ({ quiver, dataDir } = await startPoolServer(catalog, {
    QUIVER_UPLOADS_PER_TEAM: String(PER_TEAM),
    QUIVER_UPLOADS_PER_SERVER: String(PER_SERVER),
    QUIVER_MAX_ARCHIVE_EXPANSION_BYTES: String(EXPANSION),
  }));
  url = quiver.api.url;
  token = await login(url);
  teamA = (await catalog.prisma.team.findFirstOrThrow()).id;
  const created = await gql<{ createTeam: { id: string } }>(
    url,
    `mutation { createTeam(name: "Second", slug: "second") { id } }`,
    {},
    { authorization: `Bearer ${token}` },
  );
  teamB = created.data!.createTeam.id;
}, 120_000);
afterAll(() => quiver?.close());

const good = (seed = 7) => adapterFiles(writeAdapter({ seed }));
let names = 0;
const fresh = (prefix: string) => `${prefix}-${++names}`;

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { adapter?: { id: string }; errors?: { message: string; extensions: { code: string; details?: Record<string, unknown> } }[] };
}

async function post(fields: Record<string, string | string[]>, files: UploadFile[]): Promise<Answer> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, Array.isArray(v) ? JSON.stringify(v) : v);
  for (const f of files) form.append("file", new Blob([f.data]), f.filename);
  const res = await fetch(`${url}/v1/adapters`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as Answer["body"] };
}

const codeOf = (a: Answer) => ({ status: a.status, code: a.body.errors?.[0]?.extensions.code, reason: a.body.errors?.[0]?.extensions.details?.reason });

/**
 * An upload whose body stops part-way through its file: the server has checked its fields and
 * taken its slot, and waits for the rest. `finish` sends the rest; `abort` drops the connection.
 */
function heldUpload(fields: Record<string, string>, file: UploadFile, sentBytes = 64) {
  const boundary = `----quiver-${randomUUID()}`;
  const head =
    Object.entries(fields)
      .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
      .join("") + `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const req = http.request(`${url}/v1/adapters`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${boundary}` },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", reject);
  });
  response.catch(() => undefined);
  req.write(head);
  req.write(file.data.subarray(0, sentBytes));
  return {
    response,
    finish: () => req.end(Buffer.concat([file.data.subarray(sentBytes), Buffer.from(`\r\n--${boundary}--\r\n`)])),
    abort: () => req.destroy(),
  };
}

const staged = () => filesUnder(path.join(dataDir, "staging"));

async function footprint() {
  await quiver.services.pool.idle();
  const p = catalog.prisma;
  const [adapters, versions] = await Promise.all([p.adapter.count(), p.adapterVersion.count()]);
  return { adapters, versions, files: filesUnder(path.join(dataDir, "adapters")), staging: staged() };
}

async function tgzOf(files: UploadFile[]): Promise<Buffer> {
  return makeTar(
    files.map((f) => ({ name: f.filename, data: f.data })),
    true,
  );
}

describe("archive bombs in skipped entries", () => {
  test("a .tar.gz whose skipped entry expands to 64 MiB is refused quickly with the coded error; nothing is stored", async () => {
    const before = await footprint();
    const bomb = await tgzWithSkippedZeros(good(), "junk/zeros.bin", 64 * MiB);
    expect(bomb.length).toBeLessThan(128 * 1024);
    const start = performance.now();
    const r = await post({ name: fresh("tgz-bomb"), samples: SAMPLES }, [{ filename: "bomb.tar.gz", data: bomb }]);
    const ms = performance.now() - start;
    expect(codeOf(r)).toEqual({ status: 422, code: "ADAPTER_INVALID", reason: "COMPRESSION_RATIO" });
    expect(ms).toBeLessThan(3000);
    expect(await footprint()).toEqual(before);
    expect(staged()).toEqual([]);
  });

  test("a .zip whose skipped entry expands to 32 MiB is refused with the coded error; nothing is stored", async () => {
    const before = await footprint();
    const bomb = zipWithSkippedZeros(good(), "junk/zeros.bin", 32 * MiB);
    expect(bomb.length).toBeLessThan(128 * 1024);
    const r = await post({ name: fresh("zip-bomb"), samples: SAMPLES }, [{ filename: "bomb.zip", data: bomb }]);
    expect(codeOf(r)).toEqual({ status: 422, code: "ADAPTER_INVALID", reason: "COMPRESSION_RATIO" });
    expect(await footprint()).toEqual(before);
  });

  test("archives with a little junk inside the budget are still accepted", async () => {
    const files = good(8);
    const tgz = await tgzWithSkippedZeros(files, "junk/zeros.bin", 16 * 1024);
    const zip = zipWithSkippedZeros(files, "junk/zeros.bin", 16 * 1024);
    for (const [filename, data] of [
      ["ok.tar.gz", tgz],
      ["ok.zip", zip],
    ] as const) {
      const r = await post({ name: fresh("junk-ok"), samples: SAMPLES }, [{ filename, data }]);
      expect({ filename, status: r.status }).toEqual({ filename, status: 201 });
    }
    await quiver.services.pool.idle();
  });
});

describe("concurrent uploads", () => {
  afterEach(async () => {
    await waitUntil("the staging folder is empty", () => staged().length === 0);
  });

  test(`${PER_TEAM} uploads of one team are admitted, the next is refused with RATE_LIMITED and Retry-After; another team's still is, up to the server's ${PER_SERVER}`, async () => {
    const before = await footprint();
    const archive = await tgzOf(good(11));
    const held = Array.from({ length: PER_TEAM }, () =>
      heldUpload({ name: fresh("held"), samples: JSON.stringify(SAMPLES), teamId: teamA }, { filename: "a.tar.gz", data: archive }),
    );
    await waitUntil(`${PER_TEAM} uploads hold their slots`, () => staged().length === PER_TEAM);

    const refused = await post({ name: fresh("one-too-many"), samples: SAMPLES, teamId: teamA }, [{ filename: "a.tar.gz", data: archive }]);
    expect(codeOf(refused)).toEqual({ status: 429, code: "RATE_LIMITED", reason: undefined });
    expect(refused.body.errors![0]!.extensions.details).toMatchObject({ retryAfterSeconds: 5, scope: "team", limit: PER_TEAM });
    expect(refused.retryAfter).toBe("5");
    // Refused before any byte of it was stored: only the held uploads are staged.
    expect(staged()).toHaveLength(PER_TEAM);

    // The second team is not held up by the first.
    const other = await post({ name: fresh("team-b"), samples: SAMPLES, teamId: teamB }, good(12));
    expect(other.status).toBe(201);

    // The server's limit: a third held upload fills it; then any team is refused.
    const third = heldUpload({ name: fresh("held-b"), samples: JSON.stringify(SAMPLES), teamId: teamB }, { filename: "b.tar.gz", data: archive });
    await waitUntil("the server is full", () => staged().length === PER_SERVER);
    const full = await post({ name: fresh("server-full"), samples: SAMPLES, teamId: teamB }, good(13));
    expect(codeOf(full)).toEqual({ status: 429, code: "RATE_LIMITED", reason: undefined });
    expect(full.body.errors![0]!.extensions.details).toMatchObject({ scope: "server", limit: PER_SERVER });
    expect(full.retryAfter).toBe("5");

    // A held upload that completes is an ordinary upload, and gives its slot back.
    held[0]!.finish();
    expect((await held[0]!.response).status).toBe(201);
    const next = await post({ name: fresh("after-success"), samples: SAMPLES, teamId: teamB }, good(14));
    expect(next.status).toBe(201);

    held[1]!.abort();
    third.abort();
    await quiver.services.pool.idle();
    const after = await footprint();
    expect(after.adapters).toBe(before.adapters + 3);
  });

  test("aborted uploads give their slots back", async () => {
    const archive = await tgzOf(good(21));
    const held = Array.from({ length: PER_TEAM }, () =>
      heldUpload({ name: fresh("aborted"), samples: JSON.stringify(SAMPLES), teamId: teamA }, { filename: "a.tar.gz", data: archive }, 200),
    );
    await waitUntil("the team is at its limit", () => staged().length === PER_TEAM);
    for (const h of held) h.abort();
    await waitUntil("the aborted uploads are cleaned up", () => staged().length === 0);
    // Both slots come back (the server notices the closed connections on its own time).
    const statuses: number[] = [];
    await waitUntil(
      "an upload is admitted again",
      async () => {
        const r = await post({ name: fresh("after-abort"), samples: SAMPLES, teamId: teamA }, [{ filename: "a.tar.gz", data: archive }]);
        statuses.push(r.status);
        return r.status !== 429;
      },
      5000,
    );
    expect(statuses.at(-1)).toBe(201);
    const twoAtOnce = Array.from({ length: PER_TEAM }, () =>
      heldUpload({ name: fresh("again"), samples: JSON.stringify(SAMPLES), teamId: teamA }, { filename: "a.tar.gz", data: archive }),
    );
    await waitUntil("both slots are free again", () => staged().length === PER_TEAM);
    for (const h of twoAtOnce) h.abort();
  });

  test("refused archives, invalid adapters, conflicts and server errors give their slots back", async () => {
    const bomb = await tgzWithSkippedZeros(good(), "junk/zeros.bin", 16 * MiB);
    const failures: [string, () => Promise<Answer>, number][] = [
      ["a refused archive", () => post({ name: fresh("bomb"), samples: SAMPLES, teamId: teamA }, [{ filename: "bomb.tgz", data: bomb }]), 422],
      [
        "an adapter for another model",
        () => post({ name: fresh("mismatch"), samples: SAMPLES, teamId: teamA }, adapterFiles(writeAdapter({ model: OTHER_MODEL }))),
        422,
      ],
      ["a name conflict", () => post({ name: "taken", samples: SAMPLES, teamId: teamA }, good(31)), 409],
      ["a server error", () => post({ name: fresh("boom"), samples: SAMPLES, teamId: teamA }, good(32)), 500],
    ];
    expect((await post({ name: "taken", samples: SAMPLES, teamId: teamA }, good(30))).status).toBe(201);
    const silence = jest.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      for (const [what, fail, status] of failures) {
        const register =
          what === "a server error" ? jest.spyOn(quiver.services.pool, "register").mockRejectedValue(new Error("the disk is on fire")) : undefined;
        try {
          // More failures than the team has slots: a leaked slot would refuse the later ones.
          for (let i = 0; i <= PER_TEAM; i++) expect({ what, status: (await fail()).status }).toEqual({ what, status });
        } finally {
          register?.mockRestore();
        }
        const ok = await post({ name: fresh("after-failure"), samples: SAMPLES, teamId: teamA }, good(33));
        expect({ what, status: ok.status }).toEqual({ what, status: 201 });
      }
    } finally {
      silence.mockRestore();
    }
    await quiver.services.pool.idle();
  });
});
