// USE-lite on onnxruntime: the graph of onnx-graph.ts, built once per process from the
// package's weight shards (about 28 MB, no file written) and run in one reused session.

import { createSession, int64Tensor, rowsOf, type OrtSession } from "../onnx/ort.js";
import { buildUseLiteOnnx } from "./onnx-graph.js";
import { readUseLiteWeights } from "./weights.js";

let modelBytes: Uint8Array | undefined;

function useLiteModelBytes(): Uint8Array {
  modelBytes ??= buildUseLiteOnnx(readUseLiteWeights());
  return modelBytes;
}

export class UseLiteOnnxBackend {
  private constructor(private readonly session: OrtSession) {}

  static async load(): Promise<UseLiteOnnxBackend> {
    return new UseLiteOnnxBackend(await createSession(useLiteModelBytes(), "the USE-lite graph"));
  }

  /** Token ids per text (each non-empty) -> (n) x 512 unit vectors. Pads to the longest. */
  async run(ids: number[][]): Promise<Float32Array[]> {
    const rows = ids.length;
    const cols = Math.max(...ids.map((r) => r.length));
    const inputIds = new BigInt64Array(rows * cols);
    const mask = new BigInt64Array(rows * cols);
    ids.forEach((row, i) => {
      row.forEach((id, j) => {
        inputIds[i * cols + j] = BigInt(id);
        mask[i * cols + j] = 1n;
      });
    });
    const out = await this.session.run({
      input_ids: int64Tensor(inputIds, rows, cols),
      attention_mask: int64Tensor(mask, rows, cols),
    });
    return rowsOf(out.embedding!);
  }

  dispose(): void {
    void this.session.release();
  }
}
