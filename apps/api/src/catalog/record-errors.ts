// Database errors that mean "the record this write depends on is gone" (deleted by a
// concurrent request): Prisma's not-found and foreign-key failures, from the client API
// (P2025, P2003) or from raw SQL (P2010 wrapping SQLSTATE 23503).
export function isMissingRecord(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (e.code === "P2025" || e.code === "P2003") return true;
  return e.code === "P2010" && /23503|foreign key/i.test(String(e.message ?? ""));
}

/** A transaction PostgreSQL aborted because a concurrent one wrote the same rows (retry it). */
export function isWriteConflict(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (e.code === "P2034") return true;
  return /TransactionWriteConflict|deadlock detected|could not serialize/i.test(String(e.message ?? ""));
}

/** A unique index refused the write (a name or key already taken). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return !!e && (e.code === "P2002" || /unique constraint/i.test(String(e.message ?? "")));
}
