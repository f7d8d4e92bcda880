export const generationTypeDefs = /* GraphQL */ `
  input GenerateInput {
    prompt: String!
    strategy: CompositionStrategy = MIXTURE
    "Adapters to retrieve for the input (ignored when adapterIds pins them)."
    k: Int = 3
    "Pin these adapters instead of retrieving (the caller's team's or PUBLIC ones)."
    adapterIds: [ID!]
    maxTokens: Int = 128
    "0 = greedy."
    temperature: Float = 0
    topP: Float
    topK: Int
    "Same seed, same tokens (at temperature > 0)."
    seed: Int
    "Stop sequences: generation ends before the first one."
    stop: [String!]
    "Keep generating past end-of-sequence tokens (exactly maxTokens; for benchmarks)."
    ignoreEos: Boolean = false
    "The team the request runs for (default: the caller's active team)."
    teamId: ID
  }

  type RetrievedAdapter {
    adapter: Adapter!
    "Cosine similarity of the input and the adapter's embedding."
    score: Float!
    "Mixture weight (the weights of one request sum to 1)."
    weight: Float
  }

  type GenerationUsage {
    tokensIn: Int!
    tokensOut: Int!
    queueMs: Int!
    ttftMs: Int
    totalMs: Int!
  }

  enum GenerationStatus {
    QUEUED
    PREFILL
    DECODE
    DONE
    CANCELLED
    FAILED
  }

  type Generation {
    id: ID!
    status: GenerationStatus!
    strategy: CompositionStrategy!
    adapters: [RetrievedAdapter!]!
    finishReason: String
    errorCode: String
    usage: GenerationUsage
    createdAt: DateTime!
  }

  """
  A generation's stream: the first event names the adapters and weights; then text deltas
  (valid UTF-8 across token boundaries); the last has done, the finish reason and usage.
  """
  type GenerationEvent {
    generationId: ID!
    delta: String
    done: Boolean!
    adapters: [RetrievedAdapter!]
    finishReason: String
    usage: GenerationUsage
    "Why a FAILED generation failed."
    error: String
  }

  extend type Query {
    "The adapters the input would use (the caller's team's and PUBLIC ones, ACTIVE, best first)."
    retrieve(input: String!, k: Int = 3, teamId: ID, exclude: [ID!]): [RetrievedAdapter!]!
    generationRecord(id: ID!): Generation
  }

  extend type Mutation {
    "Queues a generation; stream it with the generation(id) subscription."
    generate(input: GenerateInput!): Generation!
    cancelGeneration(id: ID!): Generation!
  }

  extend type Subscription {
    "The events of a generation, from its first (replayed while it is recent)."
    generation(id: ID!): GenerationEvent!
    "Submits a generation and streams it; unsubscribing cancels it."
    generate(input: GenerateInput!): GenerationEvent!
  }
`;
