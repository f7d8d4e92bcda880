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
    "Whether the adapter is in the retrieval pool of the team the request acts in (its own, or added)."
    inPool: Boolean!
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
    with includePublic, also the other teams' PUBLIC adapters the team has added to its pool.
    first: 1-100.
    """
    adapters(first: Int = 25, after: String, search: String, teamId: ID, includePublic: Boolean = false, orderBy: AdapterOrder = NAME_ASC): AdapterConnection!
    "The catalogue of PUBLIC adapters of every team, for a team's ADMIN to add to its pool. first: 1-100."
    publicAdapters(first: Int = 25, after: String, search: String, orderBy: AdapterOrder = NAME_ASC): AdapterConnection!
    "An adapter the caller may see (its team's, or a PUBLIC one); null otherwise."
    adapter(id: ID!): Adapter
  }
  extend type Mutation {
    """
    Adds another team's PUBLIC adapter to the team's retrieval pool (ADMIN and above), so that
    retrieval, model "auto" and name lookups may use it. Returns the adapter.
    """
    addPublicAdapter(adapterId: ID!, teamId: ID): Adapter
    "Takes an added public adapter out of the team's pool (ADMIN and above); false when it was not in it."
    removePublicAdapter(adapterId: ID!, teamId: ID): Boolean!
  }
`;
