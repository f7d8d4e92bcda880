export const identityTypeDefs = /* GraphQL */ `
  enum Role {
    OWNER
    ADMIN
    MEMBER
    VIEWER
  }

  type User {
    id: ID!
    email: String!
    name: String
    "Server-wide administrator."
    isAdmin: Boolean!
    createdAt: DateTime!
    memberships: [Membership!]!
  }

  type Team {
    id: ID!
    name: String!
    slug: String!
    "The caller's role in this team (null when the caller is not a member)."
    viewerRole: Role
    """
    What the caller may do in this team, as the policy module decides (actions such as
    adapter.write, apikey.manage): clients show controls from this, not from a copy of the rules.
    """
    viewerPermissions: [String!]!
  }

  type Membership {
    team: Team!
    role: Role!
  }

  type AuthPayload {
    "Send as 'Authorization: Bearer <token>' (or connectionParams.authorization over WebSocket)."
    token: String!
    expiresAt: DateTime!
    user: User!
  }

  extend type Query {
    "The signed-in user; null for anonymous requests and API keys."
    me: User
  }

  type Mutation {
    "Signs in with email and password; returns a session token."
    login(email: String!, password: String!): AuthPayload!
    "Ends the current session (its token stops working)."
    logout: Boolean!
  }
`;
