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
    expect(() => loadConfig({ QUIVER_MIXTURE_WEIGHTING: bad })).toThrow(expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringMatching(/QUIVER_MIXTURE_WEIGHTING/) }));
});
