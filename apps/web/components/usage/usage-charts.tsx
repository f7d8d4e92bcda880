// The four charts of the usage page over the report's buckets.
import { formatCompact, formatMs } from "@/components/ui/format";
import { TimeSeriesChart } from "./time-series-chart";
import type { UsageReport, UsageStats } from "./usage-query";

const colors = { requests: "#3b5bdb", errors: "#c92a2a", tokensIn: "#0c8599", tokensOut: "#7048e8", p50: "#3b5bdb", p95: "#e67700", p99: "#c92a2a" };
const dashes = { p50: "", p95: "6 3", p99: "2 3" };

export function UsageCharts({ report }: { report: UsageReport }) {
  const starts = report.series.map((b) => b.start);
  const pick = (k: keyof UsageStats) => report.series.map((b) => b.stats[k]);
  const percentiles = (prefix: "ttft" | "latency") =>
    (["P50", "P95", "P99"] as const).map((p) => ({
      key: `${prefix}${p}`,
      label: p.toLowerCase(),
      kind: "line" as const,
      color: colors[p.toLowerCase() as "p50"],
      dash: dashes[p.toLowerCase() as "p50"],
      values: pick(`${prefix}${p}Ms` as keyof UsageStats),
    }));
  const common = { starts, grain: report.groupBy };
  return (
    <div className="charts">
      <TimeSeriesChart
        {...common}
        title="Requests and errors"
        testId="chart-requests"
        summarize="sum"
        format={formatCompact}
        series={[
          { key: "requests", label: "Requests", kind: "bar", color: colors.requests, values: pick("requests") },
          { key: "errors", label: "Errors", kind: "bar", color: colors.errors, values: pick("errors") },
        ]}
      />
      <TimeSeriesChart
        {...common}
        title="Tokens"
        testId="chart-tokens"
        summarize="sum"
        format={formatCompact}
        series={[
          { key: "tokensIn", label: "Tokens in", kind: "line", color: colors.tokensIn, values: pick("tokensIn") },
          { key: "tokensOut", label: "Tokens out", kind: "line", color: colors.tokensOut, dash: "6 3", values: pick("tokensOut") },
        ]}
      />
      <TimeSeriesChart {...common} title="Time to first token" testId="chart-ttft" summarize="max" format={formatMs} series={percentiles("ttft")} />
      <TimeSeriesChart {...common} title="Latency" testId="chart-latency" summarize="max" format={formatMs} series={percentiles("latency")} />
    </div>
  );
}
