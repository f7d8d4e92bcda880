// Where to go after signing in: a path on this dashboard only (never another origin).
export function safeNext(next: string | null | undefined, fallback = "/adapters"): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : fallback;
}
