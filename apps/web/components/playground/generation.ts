// The playground's GraphQL documents and types: `retrieve` (which adapters an input would
// use), the `generate` subscription (submit and stream: the first event names the adapters
// and weights, then text deltas, the last has done, the finish reason and usage) and
// `generationRecord` (the final state of a generation stopped by unsubscribing).

export type Strategy = "MIXTURE" | "FUSION" | "SELECTION" | "NONE";

export const strategyInfo: Record<Strategy, { label: string; help: string }> = {
  MIXTURE: { label: "Mixture", help: "every retrieved adapter, outputs mixed by weight" },
  FUSION: { label: "Fusion", help: "the retrieved adapters' weights averaged into one" },
  SELECTION: { label: "Selection", help: "only the best-scoring adapter" },
  NONE: { label: "None", help: "the base model alone" },
};
export const strategies = Object.keys(strategyInfo) as Strategy[];

export const RETRIEVE = /* GraphQL */ `
  query Retrieve($input: String!, $k: Int!) {
    retrieve(input: $input, k: $k) {
      adapter {
        id
        name
        team {
          id
          name
        }
      }
      score
      weight
    }
  }
`;

export const GENERATE = /* GraphQL */ `
  subscription Generate($input: GenerateInput!) {
    generate(input: $input) {
      generationId
      delta
      done
      finishReason
      error
      adapters {
        adapter {
          id
          name
        }
        score
        weight
      }
      usage {
        tokensIn
        tokensOut
        queueMs
        ttftMs
        totalMs
      }
    }
  }
`;

export const GENERATION_RECORD = /* GraphQL */ `
  query GenerationRecord($id: ID!) {
    generationRecord(id: $id) {
      id
      status
      finishReason
      errorCode
      usage {
        tokensIn
        tokensOut
        queueMs
        ttftMs
        totalMs
      }
    }
  }
`;

export interface RetrievedAdapter {
  adapter: { id: string; name: string; team?: { id: string; name: string } };
  score: number;
  weight: number | null;
}

export interface GenerationUsage {
  tokensIn: number;
  tokensOut: number;
  queueMs: number;
  ttftMs: number | null;
  totalMs: number;
}

export interface GenerationEvent {
  generationId: string;
  delta: string | null;
  done: boolean;
  finishReason: string | null;
  error: string | null;
  adapters: RetrievedAdapter[] | null;
  usage: GenerationUsage | null;
}

export interface GenerationRecord {
  id: string;
  status: "QUEUED" | "PREFILL" | "DECODE" | "DONE" | "CANCELLED" | "FAILED";
  finishReason: string | null;
  errorCode: string | null;
  usage: GenerationUsage | null;
}

export interface GenerateInput {
  prompt: string;
  strategy: Strategy;
  k: number;
  adapterIds?: string[];
  maxTokens: number;
  temperature: number;
  seed?: number;
  ignoreEos: boolean;
}
