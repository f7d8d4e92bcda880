import type { RequestHandler } from "express";
import type { Services } from "../services.js";
import { version } from "../version.js";

/** 200 when the database answers (the engine joins this check when it is wired in). */
export function healthHandler(services: Services): RequestHandler {
  return async (_req, res) => {
    const started = Date.now();
    try {
      await services.catalog.prisma.$queryRaw`SELECT 1`;
      res.status(200).json({ status: "ok", version, database: { kind: services.catalog.kind, ok: true, latencyMs: Date.now() - started } });
    } catch (err) {
      console.error("[api] health check: database unavailable:", (err as Error).message);
      res.status(503).json({ status: "unavailable", version, database: { kind: services.catalog.kind, ok: false } });
    }
  };
}
