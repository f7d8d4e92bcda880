// Which files make an adapter upload: the two PEFT files by name, or one archive holding
// them. The API decides (it opens the archive and checks the weights against the base
// model); this catches the wrong selection before any byte is sent.

export const CONFIG_FILE = "adapter_config.json";
export const WEIGHTS_FILE = "adapter_model.safetensors";
const ARCHIVE = /\.(zip|tar|tar\.gz|tgz)$/i;

export function isArchive(name: string): boolean {
  return ARCHIVE.test(name);
}

/** Null when the selection is one the API accepts, else what to change. */
export function fileSelectionProblem(files: readonly File[]): string | null {
  if (files.length === 0) return `Choose ${CONFIG_FILE} and ${WEIGHTS_FILE}, or one .zip, .tar or .tar.gz archive holding them.`;
  if (files.length === 1) {
    const [f] = files;
    if (isArchive(f!.name)) return null;
    if (f!.name === CONFIG_FILE) return `Add ${WEIGHTS_FILE} too (select both files together).`;
    if (f!.name === WEIGHTS_FILE) return `Add ${CONFIG_FILE} too (select both files together).`;
    return `“${f!.name}” is neither a PEFT file nor an archive.`;
  }
  if (files.length === 2) {
    const names = files.map((f) => f.name).sort();
    if (names[0] === CONFIG_FILE && names[1] === WEIGHTS_FILE) return null;
    if (files.some((f) => isArchive(f.name))) return "Send one archive on its own, or the two PEFT files without an archive.";
  }
  return `Choose exactly ${CONFIG_FILE} and ${WEIGHTS_FILE}, or one archive (${files.length} files chosen).`;
}
