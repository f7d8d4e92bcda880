"use client";
// The adapter's traffic over the last 30 days (the `usage` query filtered by adapter, daily
// buckets): the totals and the requests per day.
import { useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { formatCompact } from "@/components/ui/format";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { TimeSeriesChart } from "@/components/usage/time-series-chart";
import type { UsageStats } from "@/components/usage/usage-query";
import { presetRange } from "@/components/usage/usage-range";
import { UsageTotals } from "@/components/usage/usage-totals";

const STATS = "requests tokensIn tokensOut errors cancelled ttftP50Ms ttftP95Ms ttftP99Ms latencyP50Ms latencyP95Ms latencyP99Ms";

const ADAPTER_USAGE = /* GraphQL */ `
  query AdapterUsage($adapterId: ID!, $from: DateTime!, $to: DateTime!) {
    usage(adapterId: $adapterId, from: $from, to: $to, groupBy: DAY) {
      totals { ${STATS} }
      series { start stats { requests errors } }
    }
  }
`;

interface AdapterUsageResult {
  usage: { totals: UsageStats; series: { start: string; stats: { requests: number; errors: number } }[] };
}

export function AdapterUsage({ adapterId }: { adapterId: string }) {
  const [range] = useState(() => presetRange("30d", "DAY"));
  const q = useQuery<AdapterUsageResult>(ADAPTER_USAGE, { adapterId, from: range.from.toISOString(), to: range.to.toISOString() });
  const usage = q.data?.usage;
  let body;
  if (q.error) body = <ErrorState error={q.error} what="the usage" onRetry={q.reload} />;
  else if (!usage) body = <LoadingState label="Loading usage…" />;
  else if (usage.totals.requests === 0) body = <EmptyState title="No requests used this adapter in the last 30 days." testId="adapter-usage-empty" />;
  else
    body = (
      <>
        <UsageTotals totals={usage.totals} />
        <TimeSeriesChart
          title="Requests per day"
          testId="adapter-usage-chart"
          starts={usage.series.map((b) => b.start)}
          grain="DAY"
          summarize="sum"
          format={formatCompact}
          height={180}
          series={[
            { key: "requests", label: "Requests", kind: "bar", color: "#3b5bdb", values: usage.series.map((b) => b.stats.requests) },
            { key: "errors", label: "Errors", kind: "bar", color: "#c92a2a", values: usage.series.map((b) => b.stats.errors) },
          ]}
        />
      </>
    );
  return (
    <section className="section adapter-usage" aria-labelledby="adapter-usage-title" data-testid="adapter-usage">
      <div className="toolbar between-top">
        <h2 id="adapter-usage-title">Usage, last 30 days</h2>
        <button type="button" className="secondary small" onClick={q.reload} disabled={q.loading}>
          Refresh
        </button>
      </div>
      {body}
    </section>
  );
}
