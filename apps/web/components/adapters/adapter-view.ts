// The adapter fields the pool table shows, as one GraphQL selection shared by the table's
// query and the pool-event subscription (an UPDATED event replaces the row with this).
export const ADAPTER_ROW_FIELDS = /* GraphQL */ `
  id name description visibility status statusReason team { id name }
  version rank alpha scaling targetModules dtype byteSize updatedAt
`;

export type Visibility = "PRIVATE" | "PUBLIC";

export interface AdapterView {
  id: string;
  name: string;
  description: string;
  visibility: string;
  status: string;
  statusReason: string | null;
  team: { id: string; name: string };
  version: number | null;
  rank: number | null;
  alpha: number | null;
  scaling: string | null;
  targetModules: string[];
  dtype: string | null;
  byteSize: number | null;
  updatedAt: string;
}
