// Usage analytics against known traffic: every figure of the report equals the same figure
// computed here from the generations the test recorded, on both database kinds.
import type { Quiver } from "../../apps/api/src/app.js";
import type { Catalog } from "../../apps/api/src/catalog/database.js";
import { catalogKinds } from "../helpers/catalogs.js";
import { gql, login, startTestServer } from "../helpers/server.js";

interface Gen {
  createdAt: Date;
  status: "DONE" | "FAILED" | "CANCELLED";
  strategy: "MIXTURE" | "FUSION" | "SELECTION" | "NONE";
  tokensIn: number;
  tokensOut: number;
  ttftMs: number | null;
  totalMs: number | null;
  adapters: number[];
  viaKey: boolean;
}

/** percentile_cont: linear interpolation at position p * (n - 1) of the sorted values. */
function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const pos = p * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

function stats(gens: Gen[]) {
  const ttft = gens.map((g) => g.ttftMs).filter((v): v is number => v !== null);
  const lat = gens.map((g) => g.totalMs).filter((v): v is number => v !== null);
  return {
    requests: gens.length,
    tokensIn: gens.reduce((a, g) => a + g.tokensIn, 0),
    tokensOut: gens.reduce((a, g) => a + g.tokensOut, 0),
    errors: gens.filter((g) => g.status === "FAILED").length,
    cancelled: gens.filter((g) => g.status === "CANCELLED").length,
    ttftP50Ms: percentile(ttft, 0.5),
    ttftP95Ms: percentile(ttft, 0.95),
    ttftP99Ms: percentile(ttft, 0.99),
    latencyP50Ms: percentile(lat, 0.5),
    latencyP95Ms: percentile(lat, 0.95),
    latencyP99Ms: percentile(lat, 0.99),
  };
}

function expectStats(actual: Record<string, number | null>, expected: ReturnType<typeof stats>) {
  for (const [k, v] of Object.entries(expected)) {
    if (v === null) expect(actual[k]).toBeNull();
    else expect(actual[k]).toBeCloseTo(v, 6);
  }
}

const STATS = `requests tokensIn tokensOut errors cancelled ttftP50Ms ttftP95Ms ttftP99Ms latencyP50Ms latencyP95Ms latencyP99Ms`;
const DAY0 = Date.UTC(2026, 10, 2); // 2026-11-02T00:00Z

describe.each(catalogKinds())("usage on $kind", ({ open }) => {
  let catalog: Catalog;
  let quiver: Quiver;
  let url: string;
  let token: string;
  let teamId: string;
  let keyId: string;
  let adapterIds: string[];
  const gens: Gen[] = [];

  beforeAll(async () => {
    catalog = await open();
    quiver = await startTestServer(catalog);
    url = quiver.api.url;
    token = await login(url);
    const p = catalog.prisma;
    const team = await p.team.findFirstOrThrow({ where: { slug: "default" } });
    teamId = team.id;
    const user = await p.user.findFirstOrThrow();
    const other = await p.team.create({ data: { name: "Other", slug: "other" } });
    const key = await p.apiKey.create({ data: { teamId, name: "svc", prefix: "qk_00000000", secretHash: "h", role: "MEMBER", createdById: user.id } });
    keyId = key.id;
    const model = await p.baseModel.create({
      data: {
        name: "m",
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
    for (let i = 0; i < 4; i++) adapterIds.push((await p.adapter.create({ data: { teamId, name: `a${i}`, baseModelId: model.id } })).id);

    // Known traffic: 3 days, uneven hours, all statuses and strategies, 0-3 adapters each.
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const strategies = ["MIXTURE", "FUSION", "SELECTION", "NONE"] as const;
    for (let i = 0; i < 120; i++) {
      const status = i % 11 === 0 ? "FAILED" : i % 13 === 0 ? "CANCELLED" : "DONE";
      const strategy = strategies[i % 4]!;
      const nAdapters = strategy === "NONE" ? 0 : strategy === "SELECTION" ? 1 : 1 + (i % 3);
      gens.push({
        createdAt: new Date(DAY0 + Math.floor(rnd() * 3 * 24 * 3600_000)),
        status,
        strategy,
        tokensIn: 5 + Math.floor(rnd() * 200),
        tokensOut: status === "FAILED" ? 0 : Math.floor(rnd() * 300),
        ttftMs: status === "FAILED" ? null : 10 + Math.floor(rnd() * 500),
        totalMs: status === "FAILED" ? null : 100 + Math.floor(rnd() * 5000),
        adapters: Array.from({ length: nAdapters }, (_, j) => (i + j) % 4),
        viaKey: i % 3 === 0,
      });
    }
    for (const g of gens) {
      await p.generation.create({
        data: {
          teamId,
          userId: g.viaKey ? null : user.id,
          apiKeyId: g.viaKey ? keyId : null,
          strategy: g.strategy,
          k: g.adapters.length,
          status: g.status,
          tokensIn: g.tokensIn,
          tokensOut: g.tokensOut,
          ttftMs: g.ttftMs,
          totalMs: g.totalMs,
          createdAt: g.createdAt,
          adapters: { create: g.adapters.map((a, position) => ({ adapterId: adapterIds[a]!, adapterName: `a${a}`, position, weight: 1 / g.adapters.length })) },
        },
      });
    }
    // Another team's traffic in the same window must not count.
    await p.generation.create({
      data: { teamId: other.id, strategy: "MIXTURE", k: 1, status: "DONE", tokensIn: 999, tokensOut: 999, createdAt: new Date(DAY0 + 3600_000) },
    });
  }, 120_000);
  afterAll(() => quiver?.close());

  const auth = () => ({ authorization: `Bearer ${token}` });
  const query = `query($from: DateTime, $to: DateTime, $g: UsageGrouping, $a: ID, $k: ID, $s: CompositionStrategy) {
    usage(from: $from, to: $to, groupBy: $g, adapterId: $a, apiKeyId: $k, strategy: $s, top: 10) {
      totals { ${STATS} } series { start stats { ${STATS} } }
      topAdapters { adapterId name requests tokensOut errors } topApiKeys { apiKeyId requests tokensOut } topUsers { email requests }
      byStrategy { strategy stats { requests tokensOut } } } }`;
  type Report = {
    usage: {
      totals: Record<string, number | null>;
      series: { start: string; stats: Record<string, number | null> }[];
      topAdapters: { adapterId: string; name: string; requests: number; tokensOut: number; errors: number }[];
      topApiKeys: { apiKeyId: string; requests: number; tokensOut: number }[];
      topUsers: { email: string; requests: number }[];
      byStrategy: { strategy: string; stats: { requests: number; tokensOut: number } }[];
    };
  };
  const from = new Date(DAY0).toISOString();
  const to = new Date(DAY0 + 3 * 24 * 3600_000).toISOString();

  test("daily report: totals, zero-filled series, top adapters, keys, users and strategies match the traffic", async () => {
    const r = await gql<Report>(url, query, { from, to, g: "DAY" }, auth());
    expect(r.errors).toBeUndefined();
    const u = r.data!.usage;
    expectStats(u.totals, stats(gens));
    expect(u.series).toHaveLength(3);
    u.series.forEach((b, d) => {
      expect(b.start).toBe(new Date(DAY0 + d * 24 * 3600_000).toISOString());
      const inDay = gens.filter((g) => g.createdAt.getTime() >= DAY0 + d * 86400_000 && g.createdAt.getTime() < DAY0 + (d + 1) * 86400_000);
      expectStats(b.stats, stats(inDay));
    });
    const perAdapter = adapterIds.map((id, i) => ({ id, name: `a${i}`, gens: gens.filter((g) => g.adapters.includes(i)) }));
    for (const a of perAdapter) {
      const row = u.topAdapters.find((t) => t.adapterId === a.id)!;
      expect(row).toEqual({ adapterId: a.id, name: a.name, requests: a.gens.length, tokensOut: stats(a.gens).tokensOut, errors: stats(a.gens).errors });
    }
    expect(u.topAdapters.map((t) => t.requests)).toEqual([...u.topAdapters.map((t) => t.requests)].sort((x, y) => y - x));
    const viaKey = gens.filter((g) => g.viaKey);
    expect(u.topApiKeys).toEqual([{ apiKeyId: keyId, requests: viaKey.length, tokensOut: stats(viaKey).tokensOut }]);
    expect(u.topUsers[0]!.requests).toBe(gens.length - viaKey.length);
    for (const s of u.byStrategy) {
      const sg = gens.filter((g) => g.strategy === s.strategy);
      expect(s.stats).toEqual({ requests: sg.length, tokensOut: stats(sg).tokensOut });
    }
  });

  test("hourly report over one day has 24 buckets that add up", async () => {
    const r = await gql<Report>(url, query, { from, to: new Date(DAY0 + 86400_000).toISOString(), g: "HOUR" }, auth());
    const u = r.data!.usage;
    expect(u.series).toHaveLength(24);
    u.series.forEach((b, h) => {
      const inHour = gens.filter((g) => Math.floor((g.createdAt.getTime() - DAY0) / 3600_000) === h);
      expectStats(b.stats, stats(inHour));
    });
  });

  test("filters by adapter, API key and strategy", async () => {
    const byAdapter = await gql<Report>(url, query, { from, to, a: adapterIds[2] }, auth());
    expectStats(byAdapter.data!.usage.totals, stats(gens.filter((g) => g.adapters.includes(2))));
    const byKey = await gql<Report>(url, query, { from, to, k: keyId }, auth());
    expectStats(byKey.data!.usage.totals, stats(gens.filter((g) => g.viaKey)));
    const byStrategy = await gql<Report>(url, query, { from, to, s: "FUSION" }, auth());
    expectStats(byStrategy.data!.usage.totals, stats(gens.filter((g) => g.strategy === "FUSION")));
  });

  test("bad ranges are coded errors", async () => {
    const backwards = await gql(url, query, { from: to, to: from }, auth());
    expect(backwards.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
    const tooLong = await gql(url, query, { from: "2025-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", g: "HOUR" }, auth());
    expect(tooLong.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
    const notADate = await gql(url, query, { from: "yesterday" }, auth());
    expect(notADate.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
  });
});
