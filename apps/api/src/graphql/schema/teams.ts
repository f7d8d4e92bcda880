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
    "Limits on this key's requests, within the team's quotas (which apply as well)."
    limits: ApiKeyLimits!
  }

  "Limits a team sets on one of its API keys (null: the team's quota alone)."
  type ApiKeyLimits {
    requestsPerMinute: Int
    concurrentGenerations: Int
    tokensPerDay: Int
  }

  "API key limit changes; null removes a limit, an omitted field keeps it."
  input ApiKeyLimitsInput {
    requestsPerMinute: Int
    concurrentGenerations: Int
    tokensPerDay: Int
  }

  type ApiKeyPayload {
    apiKey: ApiKey!
    "The whole key: shown once and stored only as a hash. Send it as 'Authorization: Bearer <key>'."
    secret: String!
  }

  "Quotas (null: unlimited). A team's are set by server administrators (setTeamQuotas)."
  type TeamQuotas {
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
    "Creates a team owned by the caller, with the server's default quotas (refused when the server turned team creation off, except for server administrators)."
    createTeam(name: String!, slug: String!): Team!
    "Renames the team (OWNER). Quotas are set by server administrators: setTeamQuotas."
    updateTeam(id: ID!, name: String): Team!
    inviteMember(teamId: ID!, email: String!, role: Role!): InvitationPayload!
    revokeInvitation(id: ID!): Invitation!
    """
    Joins the invitation's team. A new user chooses a password (and name); an existing user
    must be signed in as the invited address. Returns a session for the joined user.
    """
    acceptInvitation(token: String!, password: String, name: String): AuthPayload!
    changeMemberRole(teamId: ID!, userId: ID!, role: Role!): Member!
    removeMember(teamId: ID!, userId: ID!): Boolean!
    "Creates an API key acting in the team with at most the caller's own role, and optional limits below the team's quotas."
    createApiKey(teamId: ID!, name: String!, role: Role = MEMBER, expiresAt: DateTime, limits: ApiKeyLimitsInput): ApiKeyPayload!
    revokeApiKey(id: ID!): ApiKey!
    "Sets an API key's limits (ADMIN and above); the team's quotas apply as well."
    updateApiKeyLimits(id: ID!, limits: ApiKeyLimitsInput!): ApiKey!
  }
`;
