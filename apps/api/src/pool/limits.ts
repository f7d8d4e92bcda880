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
  /**
   * Most bytes an archive may expand to, every entry counted (skipped ones, folders and
   * headers too), whatever its compression ratio. Default: twice maxWeightsBytes.
   */
  maxExpandedBytes: number;
}

export const defaultUploadLimits = (maxWeightsBytes: number, maxExpandedBytes?: number): UploadLimits => ({
  maxWeightsBytes,
  maxConfigBytes: 64 * 1024,
  maxArchiveEntries: 32,
  maxCompressionRatio: 100,
  maxExpandedBytes: maxExpandedBytes ?? 2 * maxWeightsBytes,
});

/** The limits with what the configuration sets (QUIVER_MAX_ARCHIVE_EXPANSION_BYTES) over them. */
export function withConfiguredLimits(limits: UploadLimits, config: { QUIVER_MAX_ARCHIVE_EXPANSION_BYTES?: number | undefined }): UploadLimits {
  return config.QUIVER_MAX_ARCHIVE_EXPANSION_BYTES === undefined ? limits : { ...limits, maxExpandedBytes: config.QUIVER_MAX_ARCHIVE_EXPANSION_BYTES };
}

/** The two files a PEFT LoRA folder must hold. */
export const CONFIG_FILE = "adapter_config.json";
export const WEIGHTS_FILE = "adapter_model.safetensors";
