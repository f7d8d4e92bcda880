export const teamTypeDefs = /* GraphQL */ `
  type Member {
    user: User!
    role: Role!
    joinedAt: DateTime!
  }

  type Invitation {
    id: ID!
    email: String!
    role: Role!
    createdAt: DateTime!
    expiresAt: DateTime!
  }

  type InvitationPayload {
    invitation: Invitation!
    "The invitation secret: shown once, give it to the invitee (acceptInvitation)."
    token: String!
  }

  type ApiKey {
    id: ID!
    name: String!
    "The non-secret start of the key, for recognising it in lists."
    prefix: String!
    role: Role!
    createdAt: DateTime!
    createdBy: User
    lastUsedAt: DateTime
    expiresAt: DateTime
    revokedAt: DateTime
  }

  type ApiKeyPayload {
    apiKey: ApiKey!
    "The whole key: shown once and stored only as a hash. Send it as 'Authorization: Bearer <key>'."
    secret: String!
  }

  type TeamQuotas {
    tokensPerDay: Int
    requestsPerMinute: Int
    concurrentGenerations: Int
    storageBytes: Float
  }

  "Quota changes; null clears a quota (unlimited), an omitted field keeps it."
  input TeamQuotasInput {
    tokensPerDay: Int
    requestsPerMinute: Int
    concurrentGenerations: Int
    storageBytes: Float
  }

  type AuditEntry {
    id: ID!
    action: String!
    targetType: String!
    targetId: String
    "The user who acted, if a user did."
    actor: User
    "The API key that acted, if a key did (its prefix and name)."
    actorKey: ApiKey
    metadata: String!
    createdAt: DateTime!
    "Pass as auditLog(after:) to read the entries older than this one."
    cursor: String!
  }

  "What an invitation token is for, shown before accepting it."
  type InvitationPreview {
    email: String!
    role: Role!
    teamName: String!
    expiresAt: DateTime!
  }

  extend type Team {
    quotas: TeamQuotas!
    members: [Member!]!
    "Open invitations (ADMIN and above)."
    invitations: [Invitation!]!
    "The team's API keys (ADMIN and above)."
    apiKeys(includeRevoked: Boolean = false): [ApiKey!]!
    "Administrative actions, newest first (ADMIN and above). after: an entry's cursor, to read older ones."
    auditLog(first: Int = 50, after: String): [AuditEntry!]!
  }

  extend type Query {
    "The teams the caller belongs to (an API key: its own team)."
    teams: [Team!]!
    team(id: ID!): Team
    "An open invitation's address, role and team, by its token (null when used, revoked or expired)."
    invitationPreview(token: String!): InvitationPreview
  }

  extend type Mutation {
    "Creates a team owned by the caller."
    createTeam(name: String!, slug: String!): Team!
    updateTeam(id: ID!, name: String, quotas: TeamQuotasInput): Team!
    inviteMember(teamId: ID!, email: String!, role: Role!): InvitationPayload!
    revokeInvitation(id: ID!): Invitation!
    """
    Joins the invitation's team. A new user chooses a password (and name); an existing user
    must be signed in as the invited address. Returns a session for the joined user.
    """
    acceptInvitation(token: String!, password: String, name: String): AuthPayload!
    changeMemberRole(teamId: ID!, userId: ID!, role: Role!): Member!
    removeMember(teamId: ID!, userId: ID!): Boolean!
    "Creates an API key acting in the team with at most the caller's own role."
    createApiKey(teamId: ID!, name: String!, role: Role = MEMBER, expiresAt: DateTime): ApiKeyPayload!
    revokeApiKey(id: ID!): ApiKey!
  }
`;
