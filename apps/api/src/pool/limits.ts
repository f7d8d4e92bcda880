// Limits on what an adapter upload may be. Checked while streaming, before anything is kept.

export interface UploadLimits {
  /** Largest adapter_model.safetensors (and largest upload body), bytes. */
  maxWeightsBytes: number;
  /** Largest adapter_config.json, bytes. */
  maxConfigBytes: number;
  /** Most entries an archive may hold (files, folders, anything). */
  maxArchiveEntries: number;
  /** Largest uncompressed size / compressed size of an archive (a zip bomb's tell). */
  maxCompressionRatio: number;
}

export const defaultUploadLimits = (maxWeightsBytes: number): UploadLimits => ({
  maxWeightsBytes,
  maxConfigBytes: 64 * 1024,
  maxArchiveEntries: 32,
  maxCompressionRatio: 100,
});

/** The two files a PEFT LoRA folder must hold. */
export const CONFIG_FILE = "adapter_config.json";
export const WEIGHTS_FILE = "adapter_model.safetensors";
