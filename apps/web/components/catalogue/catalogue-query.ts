// The catalogue's GraphQL documents: every team's PUBLIC adapters (publicAdapters, searched,
// sorted and paged by cursor on the API), each with `inPool` for the team the request acts
// in, and the two writes that add one to that team's retrieval pool or take it out
// (pool.manage: ADMIN and above).
export const PUBLIC_ADAPTERS = /* GraphQL */ `
  query PublicAdapters($first: Int!, $after: String, $search: String, $orderBy: AdapterOrder!) {
    publicAdapters(first: $first, after: $after, search: $search, orderBy: $orderBy) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          name
          description
          status
          statusReason
          inPool
          team {
            id
            name
          }
          updatedAt
        }
      }
    }
  }
`;

export const ADD_TO_POOL = /* GraphQL */ `
  mutation AddPublicAdapter($adapterId: ID!, $teamId: ID) {
    addPublicAdapter(adapterId: $adapterId, teamId: $teamId) {
      id
      inPool
    }
  }
`;

export const REMOVE_FROM_POOL = /* GraphQL */ `
  mutation RemovePublicAdapter($adapterId: ID!, $teamId: ID) {
    removePublicAdapter(adapterId: $adapterId, teamId: $teamId)
  }
`;

export interface CatalogueAdapter {
  id: string;
  name: string;
  description: string;
  status: string;
  statusReason: string | null;
  /** In the retrieval pool of the active team (its own adapters always are). */
  inPool: boolean;
  team: { id: string; name: string };
  updatedAt: string;
}

export interface CatalogueResult {
  publicAdapters: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: CatalogueAdapter }[] };
}
