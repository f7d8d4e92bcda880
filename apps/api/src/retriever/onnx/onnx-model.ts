// Building ONNX models in TypeScript: a graph builder that serialises to the ONNX ModelProto
// (onnx/onnx.proto field numbers). Three users: the USE-lite graph run by onnxruntime, the
// trained retriever head, and the small sentence-transformer test model. Only the standard
// ai.onnx domain; opset 17 (LayerNormalization) by default.

import { ProtoWriter } from "./protobuf.js";

export type OnnxDType = "float32" | "int64" | "int32" | "bool";

const DATA_TYPE: Record<OnnxDType, number> = { float32: 1, int32: 6, int64: 7, bool: 9 };

/** One tensor's data, row-major. */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

export interface TensorSpec {
  dtype: OnnxDType;
  dims: readonly number[];
  data: TensorData;
}

/** A dimension: a fixed size or a symbolic name ("batch", "sequence"). */
export type Dim = number | string;

export type AttributeValue = { i: number } | { f: number } | { s: string } | { ints: readonly number[] } | { floats: readonly number[] } | { t: TensorSpec };

interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes: Record<string, AttributeValue>;
}

interface ValueInfoSpec {
  name: string;
  dtype: OnnxDType;
  shape: readonly Dim[];
}

function tensorProto(name: string, t: TensorSpec): ProtoWriter {
  const w = new ProtoWriter();
  w.packedVarints(1, t.dims); // dims
  w.varint(2, DATA_TYPE[t.dtype]); // data_type
  w.string(8, name); // name
  const d = t.data;
  w.bytes(9, new Uint8Array(d.buffer, d.byteOffset, d.byteLength)); // raw_data (little-endian)
  return w;
}

function valueInfoProto(v: ValueInfoSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === "number")
      dim.varint(1, d); // dim_value
    else dim.string(2, d); // dim_param
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().varint(1, DATA_TYPE[v.dtype]).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType); // TypeProto.tensor_type
  return new ProtoWriter().string(1, v.name).message(2, type);
}

function attributeProto(name: string, a: AttributeValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  // AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
  if ("f" in a) w.float(2, a.f).varint(20, 1);
  else if ("i" in a) w.varint(3, a.i).varint(20, 2);
  else if ("s" in a) w.bytes(4, new TextEncoder().encode(a.s)).varint(20, 3);
  else if ("t" in a) w.message(5, tensorProto("", a.t)).varint(20, 4);
  else if ("floats" in a) w.packedFloats(7, a.floats).varint(20, 6);
  else w.packedVarints(8, a.ints).varint(20, 7);
  return w;
}

export class OnnxGraph {
  private nodes: NodeSpec[] = [];
  private initializers = new Map<string, TensorSpec>();
  private inputs: ValueInfoSpec[] = [];
  private outputs: ValueInfoSpec[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  input(name: string, dtype: OnnxDType, shape: readonly Dim[]): string {
    this.inputs.push({ name, dtype, shape });
    return name;
  }

  /** Marks `value` as a graph output named `name` (through Identity when the names differ). */
  output(value: string, name: string, dtype: OnnxDType, shape: readonly Dim[]): void {
    if (value !== name) this.nodes.push({ op: "Identity", inputs: [value], outputs: [name], name: `${name}_out`, attributes: {} });
    this.outputs.push({ name, dtype, shape });
  }

  /** A constant tensor (initializer); returns its name. */
  constant(hint: string, t: TensorSpec): string {
    const name = this.initializers.has(hint) ? this.fresh(hint) : hint;
    this.initializers.set(name, t);
    return name;
  }

  f32(hint: string, dims: readonly number[], data: Float32Array | readonly number[]): string {
    return this.constant(hint, { dtype: "float32", dims, data: data instanceof Float32Array ? data : Float32Array.from(data) });
  }

  i64(hint: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant(hint, { dtype: "int64", dims, data: BigInt64Array.from(values.map((v) => BigInt(v))) });
  }

  /** Adds a node with one output; returns the output's name. */
  op(op: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    return this.opN(op, inputs, 1, attributes)[0]!;
  }

  /** Adds a node with `n` outputs. */
  opN(op: string, inputs: string[], n: number, attributes: Record<string, AttributeValue> = {}): string[] {
    const name = this.fresh(op);
    const outputs = Array.from({ length: n }, (_, i) => `${name}:${i}`);
    this.nodes.push({ op, inputs, outputs, name, attributes });
    return outputs;
  }

  /** Serialises to ModelProto bytes. */
  toBytes(options: { opset?: number; producer?: string; doc?: string; metadata?: Record<string, string> } = {}): Uint8Array {
    const graph = new ProtoWriter();
    for (const n of this.nodes) {
      const node = new ProtoWriter();
      for (const i of n.inputs) node.string(1, i);
      for (const o of n.outputs) node.string(2, o);
      node.string(3, n.name).string(4, n.op);
      for (const [k, v] of Object.entries(n.attributes)) node.message(5, attributeProto(k, v));
      graph.message(1, node);
    }
    graph.string(2, this.name);
    for (const [name, t] of this.initializers) graph.message(5, tensorProto(name, t));
    for (const v of this.inputs) graph.message(11, valueInfoProto(v));
    for (const v of this.outputs) graph.message(12, valueInfoProto(v));

    const model = new ProtoWriter();
    model.varint(1, 8); // ir_version 8 (opset 17 era)
    model.string(2, options.producer ?? "quiver");
    if (options.doc) model.string(6, options.doc);
    model.message(7, graph);
    model.message(8, new ProtoWriter().string(1, "").varint(2, options.opset ?? 17));
    for (const [k, v] of Object.entries(options.metadata ?? {})) model.message(14, new ProtoWriter().string(1, k).string(2, v));
    return model.finish();
  }
}
