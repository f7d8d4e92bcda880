// Which encoder to run, from configuration:
//   QUIVER_ENCODER=use-lite (default) | onnx:<folder>
//   QUIVER_ENCODER_PREFIX=<instruction prefix>   (default none)
//   QUIVER_RETRIEVER_HEAD=<folder> | off         a trained head on top (head.onnx + head.json);
//                                                unset: the served zoo's head, when it has one
//                                                and was trained on the configured encoder

import { RetrieverError, RetrieverErrorCode } from "./errors.js";
import type { SentenceEncoder } from "./encoder.js";
import { UseLiteEncoder } from "./use-lite/use-lite-encoder.js";
import { HeadEncoder, readHeadManifest } from "./head/head-encoder.js";

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
  /** A trained head to run on top; it must have been trained on the configured encoder. */
  headDir?: string;
  /**
   * The head to run when none is configured (the served zoo's). It is used only when it was
   * trained on the configured encoder; otherwise retrieval runs on the encoder alone.
   */
  defaultHeadDir?: string;
}

/**
 * The encoder settings from the environment. QUIVER_RETRIEVER_HEAD names a head folder, or
 * "off" for none; unset, `defaults.headDir` (the served zoo's head) applies.
 */
export function encoderConfigFromEnv(env: NodeJS.ProcessEnv = process.env, defaults: { headDir?: string } = {}): EncoderConfig {
  const head = env.QUIVER_RETRIEVER_HEAD?.trim();
  return {
    spec: env.QUIVER_ENCODER,
    prefix: env.QUIVER_ENCODER_PREFIX,
    headDir: head && head !== "off" ? head : undefined,
    defaultHeadDir: head ? undefined : defaults.headDir,
  };
}

/** The frozen encoder named by `spec` (no head). */
export async function loadBaseEncoder(config: EncoderConfig = {}): Promise<SentenceEncoder> {
  const spec = parseEncoderSpec(config.spec ?? "use-lite");
  if (spec.kind === "use-lite") return UseLiteEncoder.load({ prefix: config.prefix ?? "" });
  const { OnnxEncoder } = await import("./onnx-encoder/onnx-encoder.js");
  return OnnxEncoder.load(spec.folder, { prefix: config.prefix });
}

/**
 * The encoder retrieval runs: the base one, with the trained head on top when configured (or
 * the default head, when it fits the base encoder; `log` says when it does not).
 */
export async function loadEncoder(config: EncoderConfig = encoderConfigFromEnv(), log?: (line: string) => void): Promise<SentenceEncoder> {
  const base = await loadBaseEncoder(config);
  try {
    let dir = config.headDir;
    if (!dir && config.defaultHeadDir) {
      const trainedOn = readHeadManifest(config.defaultHeadDir).base;
      if (trainedOn === base.identity) dir = config.defaultHeadDir;
      else
        log?.(
          `[quiver] the default retriever head (${config.defaultHeadDir}) was trained on ${trainedOn}, not on the configured ${base.identity}: retrieval runs without a head`,
        );
    }
    if (!dir) return base;
    return await HeadEncoder.load(dir, base, { ownsBase: true });
  } catch (err) {
    await base.close();
    throw err;
  }
}
