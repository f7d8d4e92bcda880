// Safe extraction of an uploaded adapter archive (.zip, .tar, .tar.gz / .tgz) into a staging
// folder. Only the two PEFT files are written, from the archive's root or one top folder;
// every other entry is skipped. Refused with ADAPTER_INVALID before or while writing:
// absolute or parent-relative names ("../x"), links, too many entries, an entry over its size
// limit, an uncompressed total far above the compressed size (a zip bomb).
import { createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { createReadStream } from "node:fs";
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

function invalid(message: string, reason: string): QuiverError {
  return new QuiverError("ADAPTER_INVALID", message, { details: { reason } });
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

export async function extractArchive(file: string, kind: ArchiveKind, dest: string, limits: UploadLimits): Promise<void> {
  const compressed = (await stat(file)).size;
  const budget = { total: 0, max: Math.max(compressed * limits.maxCompressionRatio, limits.maxConfigBytes * 2) };
  const written = new Set<string>();
  const write = async (name: string, entry: Readable, declared: number | undefined) => {
    const target = classifyEntry(name);
    if (!target) {
      entry.resume();
      return;
    }
    if (written.has(target)) throw invalid(`the archive holds ${target} more than once`, "DUPLICATE_ENTRY");
    const max = limitFor(target, limits);
    if (declared !== undefined && declared > max) throw new QuiverError("PAYLOAD_TOO_LARGE", `${target} in the archive is ${declared} bytes; the limit is ${max}`);
    written.add(target);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        budget.total += chunk.length;
        if (budget.total > budget.max) cb(invalid(`the archive expands to over ${limits.maxCompressionRatio} times its size (a zip bomb?)`, "COMPRESSION_RATIO"));
        else cb(null, chunk);
      },
    });
    await pipeline(entry, byteLimit(max, target), counter, createWriteStream(path.join(dest, target), { flags: "wx" }));
  };
  if (kind === "zip") await extractZip(file, limits, write);
  else await extractTar(file, kind === "tgz", limits, write);
}

type EntryWriter = (name: string, entry: Readable, declared: number | undefined) => Promise<void>;

async function extractZip(file: string, limits: UploadLimits, write: EntryWriter): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: true, strictFileNames: false, validateEntrySizes: true }, (err, z) =>
      err || !z ? reject(invalid(`not a readable zip archive: ${err?.message ?? "unknown error"}`, "ARCHIVE_CORRUPT")) : resolve(z),
    ),
  );
  if (zip.entryCount > limits.maxArchiveEntries) {
    zip.close();
    throw invalid(`the archive holds ${zip.entryCount} entries; at most ${limits.maxArchiveEntries} are accepted`, "TOO_MANY_ENTRIES");
  }
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      zip.close();
      const message = (err as Error).message ?? String(err);
      // yauzl refuses unsafe names itself; say so rather than "damaged".
      if (!(err instanceof QuiverError) && /invalid relative path|absolute path|invalid characters/i.test(message)) {
        return reject(invalid(`the archive has an unsafe entry name: ${message}`, "UNSAFE_PATH"));
      }
      reject(err instanceof QuiverError ? err : invalid(`the zip archive is damaged: ${message}`, "ARCHIVE_CORRUPT"));
    };
    zip.on("error", fail);
    zip.on("end", resolve);
    zip.on("entry", (entry: yauzl.Entry) => {
      const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
      if (mode === 0o120000) return fail(invalid(`archive entry "${entry.fileName}" is a link`, "UNSAFE_PATH"));
      try {
        if (entry.fileName.endsWith("/")) {
          classifyEntry(entry.fileName + "x"); // a folder: only check that its name is safe
          return zip.readEntry();
        }
        if (!classifyEntry(entry.fileName)) return zip.readEntry();
      } catch (err) {
        return fail(err);
      }
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return fail(err ?? new Error("no stream"));
        write(entry.fileName, stream, entry.uncompressedSize).then(() => zip.readEntry(), fail);
      });
    });
    zip.readEntry();
  });
}

async function extractTar(file: string, gzipped: boolean, limits: UploadLimits, write: EntryWriter): Promise<void> {
  const extract = tarStream.extract();
  let entries = 0;
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      entries++;
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
      step().then(
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
  try {
    await Promise.all([gzipped ? pipeline(source, createGunzip(), extract) : pipeline(source, extract), done]);
  } catch (err) {
    if (err instanceof QuiverError) throw err;
    throw invalid(`the ${gzipped ? "tar.gz" : "tar"} archive is damaged: ${(err as Error).message}`, "ARCHIVE_CORRUPT");
  }
}
