// Safe extraction of an uploaded adapter archive (.zip, .tar, .tar.gz / .tgz) into a staging
// folder. Only the two PEFT files are written, from the archive's root or one top folder;
// every other entry is skipped. Refused with ADAPTER_INVALID before or while writing:
// absolute or parent-relative names ("../x"), links, too many entries, an entry over its size
// limit, an archive that expands past its budget (a zip bomb).
//
// The expansion budget (see expansionBudget) covers EVERY byte the archive expands to, not
// only the files kept: tar and tar.gz count at the decompression layer (bytes out of gunzip,
// or out of the file for a plain tar), so skipped entries, folders, pax and long-name
// headers, padding and anything after the end-of-archive marker all count; past the budget
// the pipeline is destroyed at once (no further byte is read). A zip is read from its central
// directory, so skipped entries are never inflated; their declared sizes still count: the
// sum of every entry's declared size must fit the budget before any entry is opened, and the
// bytes actually inflated count too (yauzl also refuses an entry whose actual size differs
// from its declared one). On any failure the files written so far are removed.
import { createReadStream, createWriteStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import * as yauzl from "yauzl";
import tarStream from "tar-stream";
import { QuiverError } from "../errors.js";
import { CONFIG_FILE, WEIGHTS_FILE, type UploadLimits } from "./limits.js";

export type ArchiveKind = "zip" | "tar" | "tgz";

export function archiveKind(filename: string): ArchiveKind | undefined {
  const f = filename.toLowerCase();
  if (f.endsWith(".zip")) return "zip";
  if (f.endsWith(".tar.gz") || f.endsWith(".tgz")) return "tgz";
  if (f.endsWith(".tar")) return "tar";
  return undefined;
}

function invalid(message: string, reason: string, details: Record<string, unknown> = {}): QuiverError {
  return new QuiverError("ADAPTER_INVALID", message, { details: { reason, ...details } });
}

/** Which of the two PEFT files an entry is, or undefined to skip it; throws for unsafe names. */
export function classifyEntry(name: string): typeof CONFIG_FILE | typeof WEIGHTS_FILE | undefined {
  if (name.includes("\0") || name.includes("\\")) throw invalid(`archive entry "${name}" has a forbidden character`, "UNSAFE_PATH");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) throw invalid(`archive entry "${name}" is an absolute path`, "UNSAFE_PATH");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalid(`archive entry "${name}" climbs out of the archive`, "UNSAFE_PATH");
  const base = parts.at(-1);
  if (parts.length > 2 || (base !== CONFIG_FILE && base !== WEIGHTS_FILE)) return undefined;
  return base;
}

function limitFor(file: string, limits: UploadLimits): number {
  return file === CONFIG_FILE ? limits.maxConfigBytes : limits.maxWeightsBytes;
}

/** Passes bytes through, failing once more than `max` have gone by. */
function byteLimit(max: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(new QuiverError("PAYLOAD_TOO_LARGE", `${what} is larger than the limit of ${max} bytes`));
      else cb(null, chunk);
    },
  });
}

/** How many bytes an archive of `compressedBytes` may expand to, all entries together. */
export interface ExpansionBudget {
  maxBytes: number;
  /** The refusal once `maxBytes` is passed. */
  refusal(): QuiverError;
}

/**
 * The smaller of `maxCompressionRatio` times the archive's size (never under room for a
 * config file) and the absolute `maxExpandedBytes`. Passing it is ADAPTER_INVALID with
 * reason COMPRESSION_RATIO, whichever bound was passed.
 */
export function expansionBudget(compressedBytes: number, limits: UploadLimits): ExpansionBudget {
  const byRatio = Math.max(compressedBytes * limits.maxCompressionRatio, limits.maxConfigBytes * 2);
  const maxBytes = Math.min(byRatio, limits.maxExpandedBytes);
  const message =
    byRatio <= limits.maxExpandedBytes
      ? `the archive expands to over ${limits.maxCompressionRatio} times its size (a zip bomb?)`
      : `the archive expands to over ${limits.maxExpandedBytes} bytes, the limit for an extracted archive`;
  return {
    maxBytes,
    refusal: () => invalid(message, "COMPRESSION_RATIO", { maxCompressionRatio: limits.maxCompressionRatio, maxExpandedBytes: limits.maxExpandedBytes }),
  };
}

/**
 * Counters that count every byte going through them against `budget`, all together (for a
 * zip, one per entry read; for a tar, one on the whole stream). The counter that passes the
 * budget fails with the budget's refusal, which ends its pipeline.
 */
function expansionMeter(budget: ExpansionBudget): () => Transform {
  let total = 0;
  return () =>
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        total += chunk.length;
        if (total > budget.maxBytes) cb(budget.refusal());
        else cb(null, chunk);
      },
    });
}

type EntryWriter = (name: string, entry: Readable, declared: number | undefined, counters?: Transform[]) => Promise<void>;

export async function extractArchive(file: string, kind: ArchiveKind, dest: string, limits: UploadLimits): Promise<void> {
  const budget = expansionBudget((await stat(file)).size, limits);
  const written = new Set<string>();
  const write: EntryWriter = async (name, entry, declared, counters = []) => {
    const target = classifyEntry(name);
    if (!target) {
      entry.resume();
      return;
    }
    if (written.has(target)) throw invalid(`the archive holds ${target} more than once`, "DUPLICATE_ENTRY");
    const max = limitFor(target, limits);
    if (declared !== undefined && declared > max)
      throw new QuiverError("PAYLOAD_TOO_LARGE", `${target} in the archive is ${declared} bytes; the limit is ${max}`);
    written.add(target);
    await pipeline([entry, ...counters, byteLimit(max, target), createWriteStream(path.join(dest, target), { flags: "wx" })]);
  };
  try {
    if (kind === "zip") await extractZip(file, budget, limits, write);
    else await extractTar(file, kind === "tgz", budget, limits, write);
  } catch (err) {
    // Nothing half-written stays behind (the caller also removes the whole staging folder).
    await Promise.all([...written].map((f) => rm(path.join(dest, f), { force: true })));
    throw err;
  }
}

function zipError(err: unknown): QuiverError {
  if (err instanceof QuiverError) return err;
  const message = (err as Error)?.message ?? String(err);
  // yauzl refuses unsafe names itself; say so rather than "damaged".
  if (/invalid relative path|absolute path|invalid characters/i.test(message))
    return invalid(`the archive has an unsafe entry name: ${message}`, "UNSAFE_PATH");
  return invalid(`the zip archive is damaged: ${message}`, "ARCHIVE_CORRUPT");
}

/** Every entry of the central directory (no entry data is read), checked for unsafe names and links. */
function zipEntries(zip: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on("error", reject);
    zip.on("end", () => resolve(entries));
    zip.on("entry", (entry: yauzl.Entry) => {
      try {
        const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
        if (mode === 0o120000) throw invalid(`archive entry "${entry.fileName}" is a link`, "UNSAFE_PATH");
        // A folder: only check that its name is safe.
        classifyEntry(entry.fileName.endsWith("/") ? entry.fileName + "x" : entry.fileName);
      } catch (err) {
        return reject(err);
      }
      entries.push(entry);
      zip.readEntry();
    });
    zip.readEntry();
  });
}

async function extractZip(file: string, budget: ExpansionBudget, limits: UploadLimits, write: EntryWriter): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false, strictFileNames: false, validateEntrySizes: true }, (err, z) =>
      err || !z ? reject(invalid(`not a readable zip archive: ${err?.message ?? "unknown error"}`, "ARCHIVE_CORRUPT")) : resolve(z),
    ),
  );
  try {
    if (zip.entryCount > limits.maxArchiveEntries) {
      throw invalid(`the archive holds ${zip.entryCount} entries; at most ${limits.maxArchiveEntries} are accepted`, "TOO_MANY_ENTRIES");
    }
    const entries = await zipEntries(zip);
    // What the archive says it expands to, skipped entries and folders included, before any
    // byte is inflated. The bytes actually inflated are counted below as well.
    const declared = entries.reduce((sum, e) => sum + e.uncompressedSize, 0);
    if (declared > budget.maxBytes) throw budget.refusal();
    const counter = expansionMeter(budget);
    for (const entry of entries) {
      if (entry.fileName.endsWith("/") || !classifyEntry(entry.fileName)) continue;
      const stream = await new Promise<Readable>((resolve, reject) =>
        zip.openReadStream(entry, (err, s) => (err || !s ? reject(err ?? new Error("no stream")) : resolve(s))),
      );
      try {
        await write(entry.fileName, stream, entry.uncompressedSize, [counter()]);
      } catch (err) {
        stream.destroy();
        throw err;
      }
    }
  } catch (err) {
    throw zipError(err);
  } finally {
    zip.close();
  }
}

async function extractTar(file: string, gzipped: boolean, budget: ExpansionBudget, limits: UploadLimits, write: EntryWriter): Promise<void> {
  const extract = tarStream.extract();
  let entries = 0;
  // The entry being handled, so that a failure waits for its file to be closed.
  let current: Promise<void> = Promise.resolve();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      entries++;
      // A failure destroys the entry with the pipeline's error, which is reported from there.
      stream.on("error", () => undefined);
      const step = async () => {
        if (entries > limits.maxArchiveEntries) throw invalid(`the archive holds more than ${limits.maxArchiveEntries} entries`, "TOO_MANY_ENTRIES");
        if (header.type === "symlink" || header.type === "link") throw invalid(`archive entry "${header.name}" is a link`, "UNSAFE_PATH");
        if (header.type === "directory") {
          classifyEntry(header.name.replace(/\/?$/, "/x"));
          stream.resume();
          return;
        }
        if (header.type !== "file") {
          stream.resume();
          return;
        }
        await write(header.name, stream as unknown as Readable, header.size);
      };
      current = step().then(
        () => next(),
        (err: unknown) => {
          stream.resume();
          extract.destroy(err as Error);
        },
      );
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  const source = createReadStream(file);
  // Every byte the archive expands to passes this counter: entries kept or skipped, headers,
  // padding, trailing data. Past the budget it fails the pipeline, which destroys the file
  // stream, gunzip and the tar parser at once.
  const counter = expansionMeter(budget)();
  try {
    await Promise.all([gzipped ? pipeline(source, createGunzip(), counter, extract) : pipeline(source, counter, extract), done]);
  } catch (err) {
    source.destroy();
    extract.destroy();
    await current;
    if (err instanceof QuiverError) throw err;
    throw invalid(`the ${gzipped ? "tar.gz" : "tar"} archive is damaged: ${(err as Error).message}`, "ARCHIVE_CORRUPT");
  }
}
