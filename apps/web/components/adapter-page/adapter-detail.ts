// The adapter page's GraphQL read: the adapter with its served version's LoRA shape, its
// samples and every version (newest first).
import type { Visibility } from "@/components/adapters/adapter-view";

export const ADAPTER_DETAIL = /* GraphQL */ `
  query AdapterDetail($id: ID!) {
    adapter(id: $id) {
      id
      name
      description
      visibility
      status
      statusReason
      team {
        id
        name
      }
      baseModel {
        id
        name
      }
      version
      rank
      alpha
      scaling
      targetModules
      dtype
      byteSize
      contentHash
      createdAt
      updatedAt
      samples
      versions {
        id
        version
        status
        statusReason
        rank
        alpha
        scaling
        targetModules
        dtype
        byteSize
        contentHash
        createdAt
      }
    }
  }
`;

export interface AdapterVersionView {
  id: string;
  version: number;
  status: string;
  statusReason: string | null;
  rank: number;
  alpha: number;
  scaling: "STANDARD" | "RSLORA";
  targetModules: string[];
  dtype: string;
  byteSize: number;
  contentHash: string;
  createdAt: string;
}

export interface AdapterDetail {
  id: string;
  name: string;
  description: string;
  visibility: Visibility;
  status: string;
  statusReason: string | null;
  team: { id: string; name: string };
  baseModel: { id: string; name: string };
  version: number | null;
  rank: number | null;
  alpha: number | null;
  scaling: "STANDARD" | "RSLORA" | null;
  targetModules: string[];
  dtype: string | null;
  byteSize: number | null;
  contentHash: string | null;
  createdAt: string;
  updatedAt: string;
  samples: string[];
  versions: AdapterVersionView[];
}

/** The LoRA scale applied to B·A: alpha / r, or alpha / sqrt(r) with rsLoRA. */
export function loraScale(alpha: number, rank: number, scaling: "STANDARD" | "RSLORA"): number {
  return scaling === "RSLORA" ? alpha / Math.sqrt(rank) : alpha / rank;
}
