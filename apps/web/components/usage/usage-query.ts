// The usage page's one GraphQL read: the filtered report, and (aliased) the unfiltered
// report's adapters and API keys that had traffic in the range, which the filters offer.
import type { Grain } from "./chart-scale";

const STATS = "requests tokensIn tokensOut errors cancelled ttftP50Ms ttftP95Ms ttftP99Ms latencyP50Ms latencyP95Ms latencyP99Ms";

export const USAGE = /* GraphQL */ `
  query Usage($from: DateTime!, $to: DateTime!, $groupBy: UsageGrouping!, $adapterId: ID, $apiKeyId: ID, $strategy: CompositionStrategy) {
    report: usage(from: $from, to: $to, groupBy: $groupBy, adapterId: $adapterId, apiKeyId: $apiKeyId, strategy: $strategy, top: 10) {
      from
      to
      groupBy
      totals { ${STATS} }
      series { start stats { ${STATS} } }
      topAdapters { adapterId name requests tokensOut errors }
      topApiKeys { apiKeyId name prefix requests tokensOut }
      byStrategy { strategy stats { requests tokensOut errors latencyP50Ms } }
    }
    options: usage(from: $from, to: $to, groupBy: $groupBy, top: 100) {
      topAdapters { adapterId name }
      topApiKeys { apiKeyId name prefix }
    }
  }
`;

export type Strategy = "MIXTURE" | "FUSION" | "SELECTION" | "NONE";
export const strategies: Strategy[] = ["MIXTURE", "FUSION", "SELECTION", "NONE"];

export interface UsageStats {
  requests: number;
  tokensIn: number;
  tokensOut: number;
  errors: number;
  cancelled: number;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  ttftP99Ms: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  latencyP99Ms: number | null;
}

export interface AdapterUsage {
  /** Null once the adapter was deleted (the name is kept). */
  adapterId: string | null;
  name: string;
  requests: number;
  tokensOut: number;
  errors: number;
}

export interface ApiKeyUsage {
  apiKeyId: string;
  name: string;
  prefix: string;
  requests: number;
  tokensOut: number;
}

export interface StrategyUsage {
  strategy: Strategy;
  stats: Pick<UsageStats, "requests" | "tokensOut" | "errors" | "latencyP50Ms">;
}

export interface UsageReport {
  from: string;
  to: string;
  groupBy: Grain;
  totals: UsageStats;
  series: { start: string; stats: UsageStats }[];
  topAdapters: AdapterUsage[];
  topApiKeys: ApiKeyUsage[];
  byStrategy: StrategyUsage[];
}

export interface UsageResult {
  report: UsageReport;
  options: { topAdapters: Pick<AdapterUsage, "adapterId" | "name">[]; topApiKeys: Pick<ApiKeyUsage, "apiKeyId" | "name" | "prefix">[] };
}
