import path from "node:path";
import { repoRoot } from "./catalog/migrate.js";
import { loadConfig } from "./config.js";

test("defaults need no configuration", () => {
  const c = loadConfig({});
  expect(c).toMatchObject({ PORT: 4000, WEB_PORT: 3000, QUIVER_DATA_DIR: ".quiver", QUIVER_WEB: "on" });
  expect(c.DATABASE_URL).toBeUndefined();
  expect(c.dataDir.endsWith(".quiver")).toBe(true);
});

test("bad values are reported together, with a code", () => {
  expect(() => loadConfig({ PORT: "99999", DATABASE_URL: "mysql://x", QUIVER_ADMIN_PASSWORD: "short" })).toThrow(
    expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringMatching(/PORT.*DATABASE_URL|DATABASE_URL.*PORT/s) }),
  );
});

test("QUIVER_ZOO: the repo's zoo by default, a folder when set, none when off", () => {
  const byDefault = loadConfig({}).zoo!;
  expect(byDefault.explicit).toBe(false);
  expect(byDefault.dir).toBe(path.join(repoRoot, "zoo"));
  expect(loadConfig({ QUIVER_ZOO: "off" }).zoo).toBeUndefined();
  expect(loadConfig({ QUIVER_ZOO: "some/zoo" }).zoo).toEqual({ dir: path.resolve("some/zoo"), explicit: true });
  // An empty value counts as unset, as for every variable.
  expect(loadConfig({ QUIVER_ZOO: "" }).zoo).toEqual(byDefault);
});

test("QUIVER_MIXTURE_WEIGHTING: softmax over the scores by default, uniform or softmax:T when set, coded error otherwise", () => {
  expect(loadConfig({}).weighting).toEqual({ kind: "softmax", temperature: 0.05 });
  expect(loadConfig({ QUIVER_MIXTURE_WEIGHTING: "uniform" }).weighting).toEqual({ kind: "uniform" });
  expect(loadConfig({ QUIVER_MIXTURE_WEIGHTING: "softmax:0.2" }).weighting).toEqual({ kind: "softmax", temperature: 0.2 });
  for (const bad of ["softmax:0", "softmax:-1", "softmax", "mean"])
    expect(() => loadConfig({ QUIVER_MIXTURE_WEIGHTING: bad })).toThrow(
      expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringMatching(/QUIVER_MIXTURE_WEIGHTING/) }),
    );
});

test("server settings from the environment: unlimited quotas, no caps and team creation on by default; a default above its cap is refused", () => {
  expect(loadConfig({}).serverSettings).toEqual({
    defaultQuotas: { tokensPerDay: null, requestsPerMinute: null, concurrentGenerations: null, storageBytes: null },
    maxQuotas: { tokensPerDay: null, requestsPerMinute: null, concurrentGenerations: null, storageBytes: null },
    teamCreation: true,
  });
  expect(loadConfig({}).QUIVER_QUEUE_TEAM_SHARE).toBe(0.5);
  const c = loadConfig({
    QUIVER_QUOTA_DEFAULT_CONCURRENT_GENERATIONS: "4",
    QUIVER_QUOTA_MAX_CONCURRENT_GENERATIONS: "8",
    QUIVER_QUOTA_DEFAULT_STORAGE_BYTES: "1000000",
    QUIVER_TEAM_CREATION: "off",
  });
  expect(c.serverSettings).toMatchObject({
    defaultQuotas: { concurrentGenerations: 4, storageBytes: 1_000_000 },
    maxQuotas: { concurrentGenerations: 8 },
    teamCreation: false,
  });
  expect(() => loadConfig({ QUIVER_QUOTA_DEFAULT_CONCURRENT_GENERATIONS: "9", QUIVER_QUOTA_MAX_CONCURRENT_GENERATIONS: "8" })).toThrow(
    expect.objectContaining({ code: "CONFIG_INVALID" }),
  );
  // A cap with no default would leave new teams unlimited, above it.
  expect(() => loadConfig({ QUIVER_QUOTA_MAX_TOKENS_PER_DAY: "1000" })).toThrow(
    expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringMatching(/QUIVER_QUOTA_DEFAULT_TOKENS_PER_DAY/) }),
  );
  expect(() => loadConfig({ QUIVER_QUEUE_TEAM_SHARE: "0" })).toThrow(expect.objectContaining({ code: "CONFIG_INVALID" }));
});
