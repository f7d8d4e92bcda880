// The pool map's one GraphQL read: the team's ACTIVE adapters (and, on request, the public
// ones it added to its pool) in clustering order, their cosine similarity matrix in that
// order, and a 2-D projection.
export const POOL_MAP = /* GraphQL */ `
  query PoolMap($includePublic: Boolean!) {
    poolMap(includePublic: $includePublic) {
      encoderId
      adapters {
        id
        name
        team {
          id
          name
        }
      }
      similarity
      points {
        adapter {
          id
        }
        x
        y
      }
    }
  }
`;

export interface MapAdapter {
  id: string;
  name: string;
  team: { id: string; name: string };
}

export interface PoolMapData {
  encoderId: string | null;
  adapters: MapAdapter[];
  /** (n, n), rows and columns in the order of `adapters`. */
  similarity: number[][];
  points: { adapter: { id: string }; x: number; y: number }[];
}
