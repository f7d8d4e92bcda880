import type { z } from "zod";
import { QuiverError } from "../../errors.js";

/** Validates resolver arguments at the edge; the first problem becomes BAD_USER_INPUT. */
export function parseArgs<S extends z.ZodType>(schema: S, args: unknown): z.infer<S> {
  const parsed = schema.safeParse(args);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const argument = issue.path.join(".");
  throw new QuiverError("BAD_USER_INPUT", `${argument || "input"}: ${issue.message}`, { details: { argument } });
}
