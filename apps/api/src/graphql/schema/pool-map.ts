export const poolMapTypeDefs = /* GraphQL */ `
  type PoolMapPoint {
    adapter: Adapter!
    "First two principal components of the adapter's embedding."
    x: Float!
    y: Float!
  }

  "The similarity of a team's adapters (the paper's figure 3), from their retrieval embeddings."
  type PoolMap {
    "The encoder whose vectors these are."
    encoderId: String
    "ACTIVE adapters in an order that puts related ones together (average-linkage clustering)."
    adapters: [Adapter!]!
    "Cosine similarities, rows and columns in the order of adapters."
    similarity: [[Float!]!]!
    points: [PoolMapPoint!]!
  }

  extend type Query {
    "The pool map of the team's ACTIVE adapters (and PUBLIC ones with includePublic); at most 500."
    poolMap(teamId: ID, includePublic: Boolean = false): PoolMap!
  }
`;
