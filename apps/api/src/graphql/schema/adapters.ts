export const adapterTypeDefs = /* GraphQL */ `
  enum Visibility {
    PRIVATE
    PUBLIC
  }

  enum AdapterStatus {
    PENDING
    ACTIVE
    FAILED
    DISABLED
  }

  enum LoraScaling {
    "alpha / r"
    STANDARD
    "alpha / sqrt(r)"
    RSLORA
  }

  type BaseModel {
    id: ID!
    name: String!
  }

  type Adapter {
    id: ID!
    name: String!
    description: String!
    visibility: Visibility!
    status: AdapterStatus!
    "Why the adapter is FAILED or DISABLED."
    statusReason: String
    team: Team!
    baseModel: BaseModel!
    "The served version's number, its LoRA shape and files (null before the first version is active)."
    version: Int
    rank: Int
    alpha: Float
    scaling: LoraScaling
    targetModules: [String!]!
    dtype: String
    "Size of the weights in bytes."
    byteSize: Float
    contentHash: String
    createdAt: DateTime!
    updatedAt: DateTime!
  }

  enum AdapterOrder {
    NAME_ASC
    NAME_DESC
    UPDATED_DESC
    UPDATED_ASC
    CREATED_DESC
    CREATED_ASC
  }

  type AdapterEdge {
    cursor: String!
    node: Adapter!
  }

  type AdapterConnection {
    edges: [AdapterEdge!]!
    pageInfo: PageInfo!
    totalCount: Int!
  }

  extend type Query {
    """
    Adapters of a team (the caller's active team unless teamId is given), sorted by orderBy;
    with includePublic, also every team's PUBLIC adapters. first: 1-100.
    """
    adapters(
      first: Int = 25
      after: String
      search: String
      teamId: ID
      includePublic: Boolean = false
      orderBy: AdapterOrder = NAME_ASC
    ): AdapterConnection!
    "An adapter the caller may see (its team's, or a PUBLIC one); null otherwise."
    adapter(id: ID!): Adapter
  }
`;
