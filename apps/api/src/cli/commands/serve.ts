// `quiver serve`: the API and the dashboard, on the embedded defaults unless configured.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { loadConfig } from "../../config.js";
import { startQuiver } from "../../app.js";
import { repoRoot } from "../../catalog/migrate.js";

function startDashboard(config: ReturnType<typeof loadConfig>, apiUrl: string): ChildProcess | undefined {
  const webDir = path.join(repoRoot, "apps", "web");
  if (!existsSync(path.join(webDir, ".next", "BUILD_ID"))) {
    console.warn("[quiver] dashboard not built (run `npm run build`); serving the API only.");
    return undefined;
  }
  const require = createRequire(path.join(webDir, "package.json"));
  const nextBin = require.resolve("next/dist/bin/next");
  const child = spawn(process.execPath, [nextBin, "start", "-p", String(config.WEB_PORT), "-H", config.HOST], {
    cwd: webDir,
    env: {
      ...process.env,
      NEXT_TELEMETRY_DISABLED: "1",
      QUIVER_API_PORT: String(new URL(apiUrl).port),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const prefix = (chunk: Buffer) =>
    chunk
      .toString()
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => `[web] ${l}`)
      .join("\n");
  child.stdout?.on("data", (c: Buffer) => console.log(prefix(c)));
  child.stderr?.on("data", (c: Buffer) => console.error(prefix(c)));
  console.log(`[quiver] dashboard on http://${config.HOST}:${config.WEB_PORT}`);
  return child;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    console.log("Usage: quiver serve   (configuration through the environment: see README.md)");
    return 0;
  }
  const config = loadConfig();
  const quiver = await startQuiver(config);
  const web = config.QUIVER_WEB === "on" ? startDashboard(config, quiver.api.url) : undefined;

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`[quiver] ${signal}: shutting down`);
      web?.kill("SIGTERM");
      await quiver.close();
      resolve(0);
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
    web?.once("exit", (code) => {
      if (!stopping) {
        console.error(`[quiver] the dashboard exited (code ${code}); stopping.`);
        void stop("dashboard exit").then(() => resolve(1));
      }
    });
  });
}
