// Builds real archives for upload tests: zip (stored or deflated entries, optional symlink
// entries and lying size fields) and tar / tar.gz through tar-stream; and archive bombs whose
// payload sits in entries the unpacker skips (a multi-member gzip of zeros, so that gigabytes
// of expansion cost a few megabytes and well under a second to build).
import { crc32, deflateRawSync, gzipSync } from "node:zlib";
import tarStream from "tar-stream";

export interface ZipEntry {
  name: string;
  data: Buffer;
  deflate?: boolean;
  symlink?: boolean;
  /** The uncompressed size the headers declare, when it should lie. */
  declaredSize?: number;
}

export function makeZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const body = e.deflate ? deflateRawSync(e.data) : e.data;
    const crc = crc32(e.data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.declaredSize ?? e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0314, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(e.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(e.declaredSize ?? e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((e.symlink ? 0o120777 : 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

export async function makeTar(
  entries: { name: string; data?: Buffer; type?: "file" | "symlink" | "directory"; linkname?: string }[],
  gzip: boolean,
): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => pack.on("end", resolve));
  for (const e of entries) {
    if (e.type === "symlink") pack.entry({ name: e.name, type: "symlink", linkname: e.linkname ?? "/etc/passwd" });
    else if (e.type === "directory") pack.entry({ name: e.name, type: "directory" });
    else pack.entry({ name: e.name }, e.data ?? Buffer.alloc(0));
  }
  pack.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  return gzip ? gzipSync(tar) : tar;
}

/** A ustar header block for a regular file of `size` bytes (size < 8 GiB). */
export function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write("0000644\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii");
  h.write("0000000\0", 116, "ascii");
  h.write(size.toString(8).padStart(11, "0") + "\0", 124, "ascii");
  h.write(
    Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, "0") + "\0",
    136,
    "ascii",
  );
  h.write("0", 156, "ascii");
  h.write("ustar\0" + "00", 257, "ascii");
  h.write("        ", 148, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

const zeroMembers = new Map<number, Buffer>();

/** `bytes` zeros as a multi-member gzip stream (each member 16 MiB of zeros, about 16 KB). */
export function gzippedZeros(bytes: number): Buffer {
  const member = 16 * 1024 * 1024;
  const gz = (n: number) => {
    let b = zeroMembers.get(n);
    if (!b) zeroMembers.set(n, (b = gzipSync(Buffer.alloc(n), { level: 9 })));
    return b;
  };
  const parts: Buffer[] = [];
  for (let left = bytes; left > 0; left -= member) parts.push(gz(Math.min(member, left)));
  return Buffer.concat(parts);
}

/**
 * A .tar.gz holding `files` (at its root) after a skipped entry `junkName` of `junkBytes`
 * zeros: a whole, valid archive, which an unpacker that does not count skipped entries reads
 * to the end and accepts.
 */
export async function tgzWithSkippedZeros(files: { filename: string; data: Buffer }[], junkName: string, junkBytes: number): Promise<Buffer> {
  const padding = (512 - (junkBytes % 512)) % 512;
  const rest = await makeTar(
    files.map((f) => ({ name: f.filename, data: f.data })),
    false,
  );
  return Buffer.concat([gzipSync(tarHeader(junkName, junkBytes)), gzippedZeros(junkBytes + padding), gzipSync(rest)]);
}

/** A .zip holding `files` (deflated) and a skipped deflated entry `junkName` of `junkBytes` zeros. */
export function zipWithSkippedZeros(files: { filename: string; data: Buffer }[], junkName: string, junkBytes: number): Buffer {
  return makeZip([{ name: junkName, data: Buffer.alloc(junkBytes), deflate: true }, ...files.map((f) => ({ name: f.filename, data: f.data, deflate: true }))]);
}
