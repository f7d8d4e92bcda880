export const serverSettingsTypeDefs = /* GraphQL */ `
  "Quota changes; null makes a quota unlimited (or removes a cap), an omitted field keeps it."
  input QuotaInput {
    tokensPerDay: Int
    requestsPerMinute: Int
    concurrentGenerations: Int
    storageBytes: Float
  }

  "Server-wide settings, for server administrators (User.isAdmin)."
  type ServerSettings {
    "The quotas a new team starts with (null: unlimited)."
    defaultQuotas: TeamQuotas!
    "Caps no team quota may exceed (null: no cap). Lowering one lowers every team quota above it."
    maxQuotas: TeamQuotas!
    "Whether any signed-in user may create teams (server administrators always may)."
    teamCreation: Boolean!
    "When an administrator last saved them; null while the environment's values apply."
    updatedAt: DateTime
  }

  input ServerSettingsInput {
    defaultQuotas: QuotaInput
    maxQuotas: QuotaInput
    teamCreation: Boolean
  }

  extend type Query {
    "The server settings (server administrators only; others get FORBIDDEN)."
    serverSettings: ServerSettings
  }

  extend type Mutation {
    "Changes the server settings (server administrators only)."
    updateServerSettings(input: ServerSettingsInput!): ServerSettings!
    """
    Sets a team's quotas (server administrators only; a team cannot set its own). A value
    above the server's maximum (unlimited, where there is a maximum) is BAD_USER_INPUT.
    """
    setTeamQuotas(teamId: ID!, quotas: QuotaInput!): Team!
  }
`;
