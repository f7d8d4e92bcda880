import type { RequestHandler } from "express";

/**
 * CORS for browser clients on other origins (the dashboard runs on its own port). Auth is a
 * bearer header, never a cookie, so no credentials mode is needed.
 */
export function cors(allowed: string): RequestHandler {
  const origins = allowed
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const any = origins.includes("*");
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin && (any || origins.includes(origin))) {
      res.setHeader("Access-Control-Allow-Origin", any ? "*" : origin);
      res.setHeader("Vary", "Origin");
      res.setHeader("Access-Control-Allow-Headers", "authorization, content-type, x-quiver-team, apollo-require-preflight");
      res.setHeader("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      // The dashboard reads the wait of a refused request (QUOTA_EXCEEDED, RATE_LIMITED, OVERLOADED).
      res.setHeader("Access-Control-Expose-Headers", "Retry-After");
      res.setHeader("Access-Control-Max-Age", "600");
    }
    if (req.method === "OPTIONS") {
      res.status(204).end();
      return;
    }
    next();
  };
}
