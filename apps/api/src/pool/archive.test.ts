// extractArchive against archive bombs whose expansion sits where the unpacker does not keep
// anything: skipped entries, pax headers, data after the end of a tar. Every byte the archive
// expands to counts against one budget; past it the archive is refused at once and nothing
// stays in the destination.
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import os from "node:os";
import path from "node:path";
import tarStream from "tar-stream";
import { makeTar, makeZip, tgzWithSkippedZeros, zipWithSkippedZeros } from "../../../../test/helpers/archives.js";
import { extractArchive, expansionBudget, type ArchiveKind } from "./archive.js";
import { CONFIG_FILE, WEIGHTS_FILE, defaultUploadLimits, withConfiguredLimits, type UploadLimits } from "./limits.js";

const MiB = 1024 * 1024;
const files = [
  { filename: CONFIG_FILE, data: Buffer.from(JSON.stringify({ peft_type: "LORA", r: 4 })) },
  { filename: WEIGHTS_FILE, data: Buffer.from("weights ".repeat(1000)) },
];

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), "quiver-archive-"));
}

async function extract(archive: Buffer, kind: ArchiveKind, limits: UploadLimits): Promise<{ dest: string; error: unknown; ms: number }> {
  const dir = tmp();
  const file = path.join(dir, `upload.${kind}`);
  writeFileSync(file, archive);
  const dest = path.join(dir, "adapter");
  mkdirSync(dest);
  const start = performance.now();
  const error = await extractArchive(file, kind, dest, limits).then(
    () => undefined,
    (err: unknown) => err,
  );
  return { dest, error, ms: performance.now() - start };
}

const bomb = expect.objectContaining({ code: "ADAPTER_INVALID", details: expect.objectContaining({ reason: "COMPRESSION_RATIO" }) });

test("the budget is the smaller of the ratio bound and the absolute cap", () => {
  const limits = defaultUploadLimits(10 * MiB);
  expect(limits.maxExpandedBytes).toBe(20 * MiB);
  expect(expansionBudget(1 * MiB, limits).maxBytes).toBe(20 * MiB);
  expect(expansionBudget(100 * 1024, limits).maxBytes).toBe(100 * 100 * 1024);
  expect(expansionBudget(10, limits).maxBytes).toBe(2 * limits.maxConfigBytes);
  expect(withConfiguredLimits(limits, { QUIVER_MAX_ARCHIVE_EXPANSION_BYTES: 5000 }).maxExpandedBytes).toBe(5000);
  expect(withConfiguredLimits(limits, {})).toBe(limits);
});

test("a .tar.gz of 2 GiB of zeros in a skipped entry is refused after the budget, at once, leaving nothing", async () => {
  const archive = await tgzWithSkippedZeros(files, "junk/zeros.bin", 2 * 1024 * MiB);
  expect(archive.length).toBeLessThan(4 * MiB);
  const { dest, error, ms } = await extract(archive, "tgz", { ...defaultUploadLimits(MiB), maxExpandedBytes: MiB });
  expect(error).toEqual(bomb);
  // Inflating the whole 2 GiB takes seconds here; stopping at the first MiB takes milliseconds.
  expect(ms).toBeLessThan(1500);
  expect(readdirSync(dest)).toEqual([]);
}, 30_000);

test("the ratio bound alone refuses a skipped-entry bomb too", async () => {
  const archive = await tgzWithSkippedZeros(files, "README.md", 256 * MiB);
  const { dest, error } = await extract(archive, "tgz", { ...defaultUploadLimits(MiB), maxExpandedBytes: Number.MAX_SAFE_INTEGER });
  expect(error).toEqual(expect.objectContaining({ code: "ADAPTER_INVALID", message: expect.stringMatching(/100 times its size/) }));
  expect(readdirSync(dest)).toEqual([]);
}, 30_000);

test("a kept file already written is removed when a later skipped entry passes the budget", async () => {
  // The two PEFT files first, then the junk: both files are written before the refusal.
  const tar = await makeTar(
    files.map((f) => ({ name: f.filename, data: f.data })),
    false,
  );
  const withoutEnd = tar.subarray(0, tar.length - 1024); // drop the end-of-archive blocks
  const junk = await makeTar([{ name: "junk/zeros.bin", data: Buffer.alloc(4 * MiB) }], false);
  const archive = gzipSync(Buffer.concat([withoutEnd, junk]));
  const { dest, error } = await extract(archive, "tgz", { ...defaultUploadLimits(MiB), maxExpandedBytes: MiB });
  expect(error).toEqual(bomb);
  expect(readdirSync(dest)).toEqual([]);
});

test("pax headers and data after the end of the tar count", async () => {
  const limits = { ...defaultUploadLimits(MiB), maxExpandedBytes: 256 * 1024 };
  // A pax header of 3 MiB (tar-stream reads up to 4 MiB of one into memory).
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => void chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => pack.on("end", () => resolve()));
  pack.entry({ name: "README.md", pax: { comment: "a".repeat(3 * MiB) } }, Buffer.from("hi"));
  for (const f of files) pack.entry({ name: f.filename }, f.data);
  pack.finalize();
  await ended;
  const pax = await extract(gzipSync(Buffer.concat(chunks)), "tgz", limits);
  expect(pax.error).toEqual(bomb);
  expect(readdirSync(pax.dest)).toEqual([]);

  const whole = await makeTar(
    files.map((f) => ({ name: f.filename, data: f.data })),
    false,
  );
  const trailing = await extract(Buffer.concat([gzipSync(whole), gzipSync(Buffer.alloc(8 * MiB))]), "tgz", limits);
  expect(trailing.error).toEqual(bomb);
  expect(readdirSync(trailing.dest)).toEqual([]);
});

test("a plain .tar counts its skipped entries against the absolute cap", async () => {
  const tar = await makeTar([{ name: "junk/blob.bin", data: Buffer.alloc(600 * 1024) }, ...files.map((f) => ({ name: f.filename, data: f.data }))], false);
  const { dest, error } = await extract(tar, "tar", { ...defaultUploadLimits(MiB), maxExpandedBytes: 512 * 1024 });
  expect(error).toEqual(bomb);
  expect(readdirSync(dest)).toEqual([]);
});

test("a .zip whose skipped entries declare more than the budget is refused before anything is inflated", async () => {
  const archive = zipWithSkippedZeros(files, "junk/zeros.bin", 32 * MiB);
  expect(archive.length).toBeLessThan(64 * 1024);
  const { dest, error } = await extract(archive, "zip", { ...defaultUploadLimits(MiB), maxExpandedBytes: MiB });
  expect(error).toEqual(bomb);
  expect(readdirSync(dest)).toEqual([]);
  // The ratio bound alone (no absolute cap) refuses it too.
  expect((await extract(archive, "zip", { ...defaultUploadLimits(MiB), maxExpandedBytes: Number.MAX_SAFE_INTEGER })).error).toEqual(bomb);
});

test("a .zip entry that inflates past its declared size is refused, and nothing is kept", async () => {
  const archive = makeZip([
    { name: CONFIG_FILE, data: files[0]!.data, deflate: true },
    { name: WEIGHTS_FILE, data: Buffer.alloc(4 * MiB), deflate: true, declaredSize: 1000 },
  ]);
  const { dest, error } = await extract(archive, "zip", defaultUploadLimits(8 * MiB));
  expect(error).toEqual(expect.objectContaining({ code: "ADAPTER_INVALID", details: expect.objectContaining({ reason: "ARCHIVE_CORRUPT" }) }));
  expect(readdirSync(dest)).toEqual([]);
});

test("archives within the budget, junk included, extract the two files", async () => {
  const limits = { ...defaultUploadLimits(MiB), maxExpandedBytes: 512 * 1024 };
  const tgz = await tgzWithSkippedZeros(files, "junk/zeros.bin", 64 * 1024);
  const zip = zipWithSkippedZeros(files, "junk/zeros.bin", 64 * 1024);
  const tar = await makeTar([{ name: "notes.txt", data: Buffer.alloc(64 * 1024) }, ...files.map((f) => ({ name: f.filename, data: f.data }))], false);
  for (const [archive, kind] of [
    [tgz, "tgz"],
    [zip, "zip"],
    [tar, "tar"],
  ] as const) {
    const { dest, error } = await extract(archive, kind, limits);
    expect({ kind, error }).toEqual({ kind, error: undefined });
    expect(readdirSync(dest).sort()).toEqual([CONFIG_FILE, WEIGHTS_FILE]);
  }
});
