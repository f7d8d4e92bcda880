import type { RequestHandler } from "express";
import type { Services } from "../services.js";
import { version } from "../version.js";

/**
 * 200 when the database answers, the engine holds the configured model (if any) and no part
 * of the process reports a problem (services.health: a failing engine, a database outage, a
 * shutdown under way); 503 with the reasons otherwise.
 */
export function healthHandler(services: Services): RequestHandler {
  return async (_req, res) => {
    const started = Date.now();
    try {
      await services.catalog.prisma.$queryRaw`SELECT 1`;
      const model = services.model;
      const problems = services.health.report();
      res.status(problems.length ? 503 : 200).json({
        status: problems.length ? "degraded" : "ok",
        ...(problems.length ? { problems } : {}),
        version,
        database: { kind: services.catalog.kind, ok: true, latencyMs: Date.now() - started },
        engine: model
          ? { ok: !services.health.problem("engine"), model: model.baseModelName, device: model.engine.info.device }
          : { ok: false, reason: "no model configured (QUIVER_MODEL, or the model zoo)" },
      });
    } catch (err) {
      console.error("[api] health check: database unavailable:", (err as Error).message);
      res.status(503).json({ status: "unavailable", version, database: { kind: services.catalog.kind, ok: false } });
    }
  };
}
