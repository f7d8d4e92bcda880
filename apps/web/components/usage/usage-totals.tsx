// The range's figures at a glance: volume, errors and the latency percentiles.
import type { ReactNode } from "react";
import { formatCompact, formatCount, formatMs } from "@/components/ui/format";
import type { UsageStats } from "./usage-query";

function Stat({ label, value, detail, testId }: { label: string; value: string; detail?: ReactNode; testId: string }) {
  return (
    <div className="stat">
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
      {detail && <dd className="muted small">{detail}</dd>}
    </div>
  );
}

/** "p95 … · p99 …", breaking only between the two. */
function Tail({ p95, p99 }: { p95: number | null; p99: number | null }) {
  return (
    <>
      <span className="nowrap">p95 {formatMs(p95)}</span> · <span className="nowrap">p99 {formatMs(p99)}</span>
    </>
  );
}

export function UsageTotals({ totals }: { totals: UsageStats }) {
  const errorRate = totals.requests ? `${((100 * totals.errors) / totals.requests).toFixed(1)}% of requests` : undefined;
  return (
    <dl className="stats" aria-label="Totals for the range">
      <Stat
        label="Requests"
        value={formatCount(totals.requests)}
        detail={totals.cancelled ? `${formatCount(totals.cancelled)} cancelled` : undefined}
        testId="usage-total-requests"
      />
      <Stat label="Errors" value={formatCount(totals.errors)} detail={errorRate} testId="usage-total-errors" />
      <Stat label="Tokens in" value={formatCompact(totals.tokensIn)} detail={formatCount(totals.tokensIn)} testId="usage-total-tokens-in" />
      <Stat label="Tokens out" value={formatCompact(totals.tokensOut)} detail={formatCount(totals.tokensOut)} testId="usage-total-tokens-out" />
      <Stat
        label="Time to first token"
        value={`p50 ${formatMs(totals.ttftP50Ms)}`}
        detail={<Tail p95={totals.ttftP95Ms} p99={totals.ttftP99Ms} />}
        testId="usage-total-ttft"
      />
      <Stat
        label="Latency"
        value={`p50 ${formatMs(totals.latencyP50Ms)}`}
        detail={<Tail p95={totals.latencyP95Ms} p99={totals.latencyP99Ms} />}
        testId="usage-total-latency"
      />
    </dl>
  );
}
