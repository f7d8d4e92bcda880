"use client";
// The usage page: filters, totals, charts over time and the breakdowns, from one `usage`
// query. Presets are relative to the time of the last load; Refresh reads them again.
import { useMemo, useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { useTeam } from "@/components/shell/team-context";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { rangeLabel } from "./chart-scale";
import { UsageBreakdowns } from "./usage-breakdowns";
import { UsageCharts } from "./usage-charts";
import { UsageFilters, type UsageFilterValues } from "./usage-filters";
import { USAGE, type UsageResult } from "./usage-query";
import { customRange, presetRange, utcDate, type UsageRange } from "./usage-range";
import { UsageTotals } from "./usage-totals";

const DAY = 86_400_000;

/** The page for the active team; switching teams starts again from the default filters. */
export function UsagePage() {
  const { team } = useTeam();
  return <TeamUsage key={team.id} teamName={team.name} />;
}

function TeamUsage({ teamName }: { teamName: string }) {
  const [now, setNow] = useState(() => Date.now());
  const [values, setValues] = useState<UsageFilterValues>(() => ({
    preset: "24h",
    grain: "HOUR",
    fromDay: utcDate(Date.now() - 6 * DAY),
    toDay: utcDate(Date.now()),
    adapterId: "",
    apiKeyId: "",
    strategy: "",
  }));
  const [labels, setLabels] = useState<{ adapter?: string; apiKey?: string }>({});

  const range: UsageRange | { problem: string } = useMemo(
    () => (values.preset === "custom" ? customRange(values.fromDay, values.toDay, values.grain) : presetRange(values.preset, values.grain, now)),
    [values.preset, values.fromDay, values.toDay, values.grain, now],
  );
  const problem = "problem" in range ? range.problem : undefined;
  const variables = problem
    ? {}
    : {
        from: (range as UsageRange).from.toISOString(),
        to: (range as UsageRange).to.toISOString(),
        groupBy: (range as UsageRange).groupBy,
        adapterId: values.adapterId || null,
        apiKeyId: values.apiKeyId || null,
        strategy: values.strategy || null,
      };
  const q = useQuery<UsageResult>(USAGE, variables, { skip: !!problem });
  const report = q.data?.report;
  const filtered = !!(values.adapterId || values.apiKeyId || values.strategy);

  function change(next: Partial<UsageFilterValues>) {
    setValues((v) => ({ ...v, ...next }));
  }

  function refresh() {
    setNow(Date.now());
    q.reload();
  }

  let body;
  if (problem)
    body = (
      <p className="error" role="alert">
        {problem}
      </p>
    );
  else if (q.error) body = <ErrorState error={q.error} what="usage" onRetry={q.reload} />;
  else if (!report) body = <LoadingState label="Loading usage…" />;
  else if (report.totals.requests === 0)
    body = (
      <EmptyState title={filtered ? "No requests match these filters in this range." : "No requests in this range."} testId="usage-empty">
        {filtered ? "Clear a filter or widen the range." : "Generations made by this team's members and API keys appear here."}
      </EmptyState>
    );
  else
    body = (
      <>
        <UsageTotals totals={report.totals} />
        <UsageCharts report={report} />
        <UsageBreakdowns
          report={report}
          onAdapter={(id, name) => {
            setLabels((l) => ({ ...l, adapter: name }));
            change({ adapterId: id });
          }}
          onApiKey={(id, name) => {
            setLabels((l) => ({ ...l, apiKey: name }));
            change({ apiKeyId: id });
          }}
        />
      </>
    );

  return (
    <>
      <div className="page-title">
        <h1>Usage</h1>
        {report && (
          <span className="muted" data-testid="usage-range">
            {teamName} · {rangeLabel(report.from, report.to, report.groupBy)}
          </span>
        )}
      </div>
      <UsageFilters
        values={values}
        options={q.data?.options}
        labels={labels}
        busy={q.loading}
        onChange={(next) => {
          if (next.adapterId !== undefined) setLabels((l) => ({ ...l, adapter: undefined }));
          if (next.apiKeyId !== undefined) setLabels((l) => ({ ...l, apiKey: undefined }));
          change(next);
        }}
        onRefresh={refresh}
      />
      <div aria-busy={q.loading} className={q.loading && report ? "stale" : undefined} data-testid="usage-body">
        {body}
      </div>
    </>
  );
}
