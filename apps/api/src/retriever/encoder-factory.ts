// Which encoder to run, from configuration:
//   QUIVER_ENCODER=use-lite (default) | onnx:<folder>
//   QUIVER_ENCODER_PREFIX=<instruction prefix>   (default none)
//   QUIVER_RETRIEVER_HEAD=<folder>               a trained head on top (head.onnx + head.json)

import { RetrieverError, RetrieverErrorCode } from "./errors.js";
import type { SentenceEncoder } from "./encoder.js";
import { UseLiteEncoder } from "./use-lite/use-lite-encoder.js";
import { HeadEncoder } from "./head/head-encoder.js";

export type EncoderSpec = { kind: "use-lite" } | { kind: "onnx"; folder: string };

export function parseEncoderSpec(spec: string): EncoderSpec {
  const s = spec.trim();
  if (s === "" || s === "use-lite") return { kind: "use-lite" };
  if (s.startsWith("onnx:") && s.length > "onnx:".length) return { kind: "onnx", folder: s.slice("onnx:".length) };
  throw new RetrieverError(
    RetrieverErrorCode.ENCODER_SPEC_INVALID,
    `QUIVER_ENCODER="${spec}" is not an encoder: use "use-lite" or "onnx:<folder with model.onnx and tokenizer.json>"`,
  );
}

export interface EncoderConfig {
  spec?: string;
  prefix?: string;
  headDir?: string;
}

export function encoderConfigFromEnv(env: NodeJS.ProcessEnv = process.env): EncoderConfig {
  return { spec: env.QUIVER_ENCODER, prefix: env.QUIVER_ENCODER_PREFIX, headDir: env.QUIVER_RETRIEVER_HEAD || undefined };
}

/** The frozen encoder named by `spec` (no head). */
export async function loadBaseEncoder(config: EncoderConfig = {}): Promise<SentenceEncoder> {
  const spec = parseEncoderSpec(config.spec ?? "use-lite");
  if (spec.kind === "use-lite") return UseLiteEncoder.load({ prefix: config.prefix ?? "" });
  const { OnnxEncoder } = await import("./onnx-encoder/onnx-encoder.js");
  return OnnxEncoder.load(spec.folder, { prefix: config.prefix });
}

/** The encoder retrieval runs: the base one, with the trained head on top when configured. */
export async function loadEncoder(config: EncoderConfig = encoderConfigFromEnv()): Promise<SentenceEncoder> {
  const base = await loadBaseEncoder(config);
  if (!config.headDir) return base;
  try {
    return await HeadEncoder.load(config.headDir, base, { ownsBase: true });
  } catch (err) {
    await base.close();
    throw err;
  }
}
