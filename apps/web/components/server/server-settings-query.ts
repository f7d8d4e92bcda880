// The server administration's GraphQL documents (server administrators only: the API answers
// FORBIDDEN to everyone else): the server settings (default and maximum team quotas, whether
// any signed-in user may create teams) and one team's quotas.
import { QUOTA_FIELDS, type Quotas } from "./quotas";

const SETTINGS_FIELDS = `defaultQuotas { ${QUOTA_FIELDS} } maxQuotas { ${QUOTA_FIELDS} } teamCreation updatedAt`;

export const SERVER_SETTINGS = /* GraphQL */ `
  query ServerSettings {
    serverSettings { ${SETTINGS_FIELDS} }
  }
`;

export const UPDATE_SERVER_SETTINGS = /* GraphQL */ `
  mutation UpdateServerSettings($input: ServerSettingsInput!) {
    updateServerSettings(input: $input) { ${SETTINGS_FIELDS} }
  }
`;

export const TEAM_QUOTAS = /* GraphQL */ `
  query TeamQuotas($id: ID!) {
    team(id: $id) { id name quotas { ${QUOTA_FIELDS} } }
  }
`;

export const SET_TEAM_QUOTAS = /* GraphQL */ `
  mutation SetTeamQuotas($teamId: ID!, $quotas: QuotaInput!) {
    setTeamQuotas(teamId: $teamId, quotas: $quotas) { id name quotas { ${QUOTA_FIELDS} } }
  }
`;

export interface ServerSettings {
  defaultQuotas: Quotas;
  maxQuotas: Quotas;
  teamCreation: boolean;
  /** Null while the environment's values apply (never saved). */
  updatedAt: string | null;
}

export interface TeamQuotasView {
  id: string;
  name: string;
  quotas: Quotas;
}
