// `quiver serve` as a child process, for benchmarks that watch the server alone: its
// resident memory is its own (not the load generator's), and it is stopped the way an
// operator stops it (SIGTERM: a graceful shutdown that writes the usage outbox).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../../catalog/migrate.js";

export interface ServeProcess {
  url: string;
  proc: ChildProcess;
  /** Everything it printed so far, line by line. */
  log: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line (printed so far or later) that matches, or rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
}

/** Starts `node apps/api/bin/quiver.js serve` with `env` (merged over nothing else); resolves once the API listens. */
export async function startServe(env: Record<string, string>, timeoutMs = 120_000): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [path.join(repoRoot, "apps", "api", "bin", "quiver.js"), "serve"], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const onLine = (line: string) => {
    log.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  for (const s of [proc.stdout!, proc.stderr!]) {
    let rest = "";
    s.on("data", (d: Buffer) => {
      const lines = (rest + d.toString()).split("\n");
      rest = lines.pop()!;
      lines.forEach(onLine);
    });
  }
  const waitFor = (pattern: RegExp, ms: number) =>
    new Promise<string>((resolve, reject) => {
      const seen = log.find((l) => pattern.test(l));
      if (seen !== undefined) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`quiver serve did not print ${pattern} in ${ms} ms:\n${log.slice(-20).join("\n")}`)), ms);
      waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void exited.then(
        ({ code, signal }) => (clearTimeout(timer), reject(new Error(`quiver serve exited (${code ?? signal}):\n${log.slice(-20).join("\n")}`))),
      );
    });
  try {
    const line = await waitFor(/\[quiver\] API on (http:\/\/\S+)/, timeoutMs);
    return { url: /(http:\/\/\S+)/.exec(line)![1]!, proc, log, exited, waitFor };
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
}

/** A process's resident memory in MiB (Linux: /proc/<pid>/status), or undefined when unreadable. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
