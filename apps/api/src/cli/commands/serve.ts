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
    // SIGTERM / SIGINT: a graceful stop (app.ts close(): new generations refused with
    // SHUTTING_DOWN, running ones given QUIVER_SHUTDOWN_GRACE_SECONDS to finish, then ended
    // with finish reason "shutdown", usage written, catalog closed). A second signal exits now.
    const stop = async (signal: string) => {
      if (stopping) {
        console.log(`[quiver] ${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      console.log(`[quiver] ${signal}: shutting down (running generations have ${config.QUIVER_SHUTDOWN_GRACE_SECONDS} s to finish)`);
      web?.kill("SIGTERM");
      try {
        await quiver.close();
        console.log("[quiver] stopped");
      } catch (err) {
        console.error("[quiver] shutdown failed:", err);
      }
      // Whatever might still hold the event loop (an engine thread, a socket) does not keep the process.
      setTimeout(() => process.exit(0), 5000).unref();
      resolve(0);
    };
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGTERM", () => void stop("SIGTERM"));
    web?.once("exit", (code) => {
      if (!stopping) {
        console.error(`[quiver] the dashboard exited (code ${code}); stopping.`);
        void stop("dashboard exit").then(() => resolve(1));
      }
    });
  });
}
