// The model this server serves (QUIVER_MODEL): the engine instance, opened once, and its
// catalog record. Adapter validation goes through the engine here; generation (the
// scheduler) will use the same instance.
import { createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import path from "node:path";
import { Engine, EngineError, type Device } from "@quiver/engine";
import { QuiverError } from "./errors.js";
import type { ModelStore } from "./catalog/models.js";

export interface ModelHostOptions {
  modelDir: string;
  device: Device;
  maxRank: number;
  maxAdapterBytes: number;
}

export interface ValidatedAdapter {
  maxRank: number;
  numModules: number;
  bytes: number;
}

/** Engine codes that mean "this adapter does not fit this model" rather than a server fault. */
export const ADAPTER_FAULTS: ReadonlySet<string> = new Set([
  "FILE_MISSING",
  "FILE_CORRUPT",
  "UNSUPPORTED",
  "SHAPE_MISMATCH",
  "DTYPE",
  "NON_FINITE",
  "RANK_LIMIT",
  "SIZE_LIMIT",
  "BASE_MISMATCH",
  "INVALID_ARGUMENT",
]);

/** A stable identity for the weights without reading them all: config and safetensors headers. */
async function modelFingerprint(dir: string): Promise<string> {
  const h = createHash("sha256");
  h.update(await readFile(path.join(dir, "config.json")));
  for (const file of ["model.safetensors", "model.safetensors.index.json"]) {
    try {
      const fh = await open(path.join(dir, file), "r");
      try {
        const head = Buffer.alloc(1 << 20);
        const { bytesRead } = await fh.read(head, 0, head.length, 0);
        h.update(head.subarray(0, bytesRead)).update(String((await fh.stat()).size));
      } finally {
        await fh.close();
      }
    } catch {
      // absent in this layout
    }
  }
  return h.digest("hex");
}

export class ModelHost {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private current: Engine,
    readonly baseModelId: string,
    readonly baseModelName: string,
    readonly options: ModelHostOptions,
  ) {}

  /** The engine instance (a new one after reopen()). */
  get engine(): Engine {
    return this.current;
  }

  private static openEngine(options: ModelHostOptions): Promise<Engine> {
    return Engine.open(options.modelDir, { device: options.device, maxRank: options.maxRank, maxAdapterBytes: options.maxAdapterBytes });
  }

  /**
   * Replaces the engine with a fresh one on the same model and options, and closes the old
   * one after its calls in flight (the scheduler re-creates a failing engine through this).
   * In the validation queue, so that no validation straddles the swap.
   */
  reopen(): Promise<Engine> {
    const run = async () => {
      const next = await ModelHost.openEngine(this.options);
      const old = this.current;
      this.current = next;
      await old.close().catch(() => undefined);
      return next;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  static async open(options: ModelHostOptions, models: ModelStore, log: (line: string) => void): Promise<ModelHost> {
    let engine: Engine;
    try {
      engine = await ModelHost.openEngine(options);
    } catch (err) {
      const e = err as EngineError;
      throw new QuiverError("MODEL_UNAVAILABLE", `could not load the model at ${options.modelDir}: [${e.code ?? "ERROR"}] ${e.message}`, {
        hint: "QUIVER_MODEL must be a Hugging Face Llama-family folder (config.json, safetensors, tokenizer.json).",
        cause: err,
      });
    }
    const config = JSON.parse(await readFile(path.join(options.modelDir, "config.json"), "utf8")) as Record<string, unknown>;
    const name = (typeof config._name_or_path === "string" && config._name_or_path) || path.basename(path.resolve(options.modelDir));
    const info = engine.info;
    const record = await models.upsert({
      name,
      architecture: Array.isArray(config.architectures) ? String(config.architectures[0]) : "LlamaForCausalLM",
      config: config as object,
      hiddenSize: info.hiddenSize,
      numLayers: info.numLayers,
      vocabSize: info.vocabSize,
      contextLength: info.maxContext,
      dtype: typeof config.torch_dtype === "string" ? config.torch_dtype : "float32",
      storageUri: `file://${path.resolve(options.modelDir)}`,
      contentHash: await modelFingerprint(options.modelDir),
    });
    log(`[quiver] model: ${name} (${(info.numParameters / 1e6).toFixed(1)}M parameters) on ${info.device}${info.deviceNote ? ` (${info.deviceNote})` : ""}`);
    return new ModelHost(engine, record.id, record.name, options);
  }

  /**
   * Checks a PEFT folder against the model with the engine's own loader (module names,
   * shapes, dtypes, NaN/Inf, rank and size limits), then frees it again. One at a time.
   */
  validateAdapter(dir: string): Promise<ValidatedAdapter> {
    const run = async () => {
      let id: number | undefined;
      try {
        id = await this.engine.loadAdapter(dir);
        const info = await this.engine.adapterInfo(id);
        return { maxRank: info.maxRank, numModules: info.numModules, bytes: info.bytes };
      } catch (err) {
        const e = err as EngineError;
        if (e instanceof EngineError && ADAPTER_FAULTS.has(e.code)) {
          // The engine names files by their path on this server: never show that to a client.
          const message = e.message.split(path.resolve(dir)).join("adapter").split(dir).join("adapter");
          throw new QuiverError("ADAPTER_INVALID", message, {
            details: { reason: e.code },
            ...(e.code === "SHAPE_MISMATCH" || e.code === "BASE_MISMATCH" ? { hint: `Is it an adapter for ${this.baseModelName}?` } : {}),
          });
        }
        throw err;
      } finally {
        if (id !== undefined) await this.engine.unloadAdapter(id).catch(() => undefined);
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
