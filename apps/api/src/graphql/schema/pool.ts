export const poolTypeDefs = /* GraphQL */ `
  type AdapterVersion {
    id: ID!
    version: Int!
    status: AdapterStatus!
    statusReason: String
    rank: Int!
    alpha: Float!
    scaling: LoraScaling!
    targetModules: [String!]!
    dtype: String!
    byteSize: Float!
    contentHash: String!
    createdAt: DateTime!
  }

  enum PoolEventKind {
    ADDED
    UPDATED
    REMOVED
  }

  type PoolEvent {
    kind: PoolEventKind!
    adapterId: ID!
    "The adapter as the subscriber may see it now (null once REMOVED)."
    adapter: Adapter
  }

  extend type Adapter {
    "The 10-20 sample inputs its retrieval embedding is the mean of."
    samples: [String!]!
    "Every version of its weights, newest first."
    versions: [AdapterVersion!]!
    "The k most similar ACTIVE adapters the caller may use (cosine of retrieval embeddings; weight is null)."
    neighbours(k: Int = 5): [RetrievedAdapter!]!
  }

  input AdapterChanges {
    description: String
    visibility: Visibility
  }

  extend type Mutation {
    "Edits description or visibility (MEMBER and above; PUBLIC makes it usable by every team)."
    updateAdapter(id: ID!, changes: AdapterChanges!): Adapter!
    "Replaces the sample inputs (10-20, distinct) and recomputes the retrieval embedding."
    setAdapterSamples(id: ID!, samples: [String!]!): Adapter!
    "Takes the adapter out of retrieval and serving, keeping it."
    disableAdapter(id: ID!): Adapter!
    enableAdapter(id: ID!): Adapter!
    "Deletes the adapter, its versions and files (ADMIN and above). Usage history keeps its name."
    deleteAdapter(id: ID!): Boolean!
  }

  type Subscription {
    "Adapters added, updated or removed in the team (and PUBLIC ones of other teams)."
    poolEvents(teamId: ID): PoolEvent!
  }
`;
