// `quiver serve` as a child process (node apps/api/bin/quiver.js serve), for the tests that
// kill it, stop it with a signal or take its database away, and OpenAI-style streams read
// token by token over plain HTTP (a client's view: what it saw start, what it received).
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { repoRoot } from "./browser.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD } from "./server.js";

export interface ChildServer {
  url: string;
  proc: ChildProcess;
  /** Everything it printed so far, line by line. */
  log: string[];
  /** Resolves when it exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `quiver serve` on a free port with the test administrator, QUIVER_WEB and
 * QUIVER_ZOO off, and `env` (QUIVER_MODEL, QUIVER_DATA_DIR, DATABASE_URL...); resolves once
 * the API listens. Nothing of this process's QUIVER_* or DATABASE_URL leaks in.
 */
export async function spawnServer(env: Record<string, string>, timeoutMs = 60_000): Promise<ChildServer> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("QUIVER_") || k === "DATABASE_URL" || k === "NODE_OPTIONS" || k.startsWith("JEST")) continue;
    base[k] = v;
  }
  const proc = spawn(process.execPath, [path.join(repoRoot, "apps", "api", "bin", "quiver.js"), "serve"], {
    cwd: repoRoot,
    env: {
      ...base,
      PORT: "0",
      HOST: "127.0.0.1",
      QUIVER_WEB: "off",
      QUIVER_ZOO: "off",
      QUIVER_DEVICE: "cpu",
      QUIVER_ADMIN_EMAIL: ADMIN_EMAIL,
      QUIVER_ADMIN_PASSWORD: ADMIN_PASSWORD,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`quiver serve did not start in ${timeoutMs} ms:\n${log.join("\n")}`)), timeoutMs);
    const onLine = (line: string) => {
      log.push(line);
      const m = /\[quiver\] API on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
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
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`quiver serve exited (${code ?? signal}) before it listened:\n${log.join("\n")}`));
    });
  });
  return { url, proc, log, exited };
}

/** Ends a child server for good (SIGKILL) if it still runs. */
export async function killServer(s: ChildServer | undefined): Promise<void> {
  if (!s || s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  s.proc.kill("SIGKILL");
  await s.exited;
}

export interface ClientStream {
  /** The generation's id, once the client saw it start (the first chunk). */
  id: string | undefined;
  /** Tokens received (the server's count with each chunk: stream_options.continuous_usage_stats). */
  tokens: number;
  text: string;
  /** OpenAI's finish_reason and Quiver's own (quiver.finish_reason), when the end came. */
  finish: string | undefined;
  quiverFinish: string | undefined;
  usage: { prompt_tokens: number; completion_tokens: number } | undefined;
  error: { code?: string; message?: string } | undefined;
  status: number | undefined;
  retryAfter: string | undefined;
  /** When the last text chunk came (ms since the epoch). */
  lastTokenAt: number;
  /** Resolves when the response ends (complete, or the connection gone). */
  done: Promise<void>;
}

/** POSTs a streamed /v1/completions and reads it as it comes. */
export function openStream(url: string, token: string, body: Record<string, unknown>): ClientStream {
  const s: ClientStream = {
    id: undefined,
    tokens: 0,
    text: "",
    finish: undefined,
    quiverFinish: undefined,
    usage: undefined,
    error: undefined,
    status: undefined,
    retryAfter: undefined,
    lastTokenAt: 0,
    done: Promise.resolve(),
  };
  s.done = new Promise<void>((resolve) => {
    const payload = JSON.stringify({ model: "base", stream: true, stream_options: { include_usage: true, continuous_usage_stats: true }, ...body });
    const req = http.request(
      `${url}/v1/completions`,
      {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        s.status = res.statusCode;
        s.retryAfter = res.headers["retry-after"] as string | undefined;
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          buf += d;
          let at: number;
          while ((at = buf.indexOf("\n\n")) >= 0) {
            const event = buf.slice(0, at);
            buf = buf.slice(at + 2);
            for (const line of event.split("\n")) {
              if (!line.startsWith("data: ")) continue;
              const data = line.slice(6);
              if (data === "[DONE]") continue;
              const c = JSON.parse(data) as {
                id?: string;
                choices?: { text?: string; finish_reason?: string | null }[];
                usage?: ClientStream["usage"];
                error?: ClientStream["error"];
                quiver?: { finish_reason?: string };
              };
              if (c.id && !s.id) s.id = c.id.replace(/^cmpl-/, "");
              const choice = c.choices?.[0];
              if (choice?.text) {
                s.tokens = c.usage?.completion_tokens ?? s.tokens + 1;
                s.text += choice.text;
                s.lastTokenAt = Date.now();
              }
              if (choice?.finish_reason) {
                s.finish = choice.finish_reason;
                s.quiverFinish = c.quiver?.finish_reason;
              }
              if (c.usage && !c.choices?.length) s.usage = c.usage;
              if (c.error) s.error = c.error;
            }
          }
        });
        res.on("end", () => {
          if (s.status !== 200 && buf.trim()) {
            try {
              s.error = (JSON.parse(buf) as { error?: ClientStream["error"] }).error;
            } catch {
              // not JSON
            }
          }
          resolve();
        });
        res.on("error", () => resolve());
        res.on("close", () => resolve());
      },
    );
    req.on("error", () => resolve());
    req.end(payload);
  });
  return s;
}

/** A plain JSON request (status, body, Retry-After). */
export async function request(
  url: string,
  pathname: string,
  init: { method?: string; token?: string; body?: unknown } = {},
): Promise<{ status: number; body: unknown; retryAfter: string | null }> {
  const res = await fetch(`${url}${pathname}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { "content-type": "application/json", ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body, retryAfter: res.headers.get("retry-after") };
}
