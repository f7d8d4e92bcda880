export const usageTypeDefs = /* GraphQL */ `
  enum CompositionStrategy {
    MIXTURE
    FUSION
    SELECTION
    NONE
  }

  enum UsageGrouping {
    HOUR
    DAY
  }

  "Figures over recorded generations. Latencies in milliseconds; percentiles interpolate (percentile_cont)."
  type UsageStats {
    requests: Int!
    tokensIn: Float!
    tokensOut: Float!
    "Generations that FAILED."
    errors: Int!
    cancelled: Int!
    ttftP50Ms: Float
    ttftP95Ms: Float
    ttftP99Ms: Float
    latencyP50Ms: Float
    latencyP95Ms: Float
    latencyP99Ms: Float
  }

  type UsageBucket {
    "Start of the hour or day (UTC)."
    start: DateTime!
    stats: UsageStats!
  }

  type AdapterUsage {
    "The adapter, while it exists and the caller may see it."
    adapter: Adapter
    "Null once the adapter was deleted (its name is kept)."
    adapterId: ID
    name: String!
    requests: Int!
    tokensOut: Float!
    errors: Int!
  }

  type ApiKeyUsage {
    apiKeyId: ID!
    name: String!
    prefix: String!
    requests: Int!
    tokensOut: Float!
  }

  type UserUsage {
    userId: ID!
    email: String!
    requests: Int!
    tokensOut: Float!
  }

  type StrategyUsage {
    strategy: CompositionStrategy!
    stats: UsageStats!
  }

  type UsageReport {
    from: DateTime!
    to: DateTime!
    groupBy: UsageGrouping!
    totals: UsageStats!
    series: [UsageBucket!]!
    "Adapters by requests (a generation counts for each adapter it used)."
    topAdapters: [AdapterUsage!]!
    topApiKeys: [ApiKeyUsage!]!
    topUsers: [UserUsage!]!
    byStrategy: [StrategyUsage!]!
  }

  extend type Query {
    """
    The team's usage in [from, to) (default: the last 7 days), bucketed by hour (at most 31
    days) or day (at most 366 days), optionally filtered by adapter, API key, user or strategy.
    """
    usage(
      from: DateTime
      to: DateTime
      teamId: ID
      groupBy: UsageGrouping = DAY
      adapterId: ID
      apiKeyId: ID
      userId: ID
      strategy: CompositionStrategy
      top: Int = 10
    ): UsageReport!
  }
`;
