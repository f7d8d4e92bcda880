// HTTP upload of adapters (multipart/form-data), the file part of pool management:
//   POST /v1/adapters                 fields: name, samples (JSON array of strings),
//                                     description?, visibility? (PRIVATE|PUBLIC), teamId?
//                                     then files: adapter_config.json + adapter_model.safetensors,
//                                     or one archive (.zip, .tar, .tar.gz/.tgz) holding them
//   POST /v1/adapters/:id/versions    files only: new weights for an existing adapter
// Fields must come before files: every check that needs no bytes (auth, role, name, samples,
// quota of names) runs before any byte is stored. Files stream to a staging folder under a
// size limit; any failure removes it. Answers 201 with the adapter (PENDING until embedded).
// Uploads in progress are limited per team and per server (upload-slots.ts): once the team is
// known, an upload past either limit answers 429 RATE_LIMITED with Retry-After before any byte
// is stored; the slot is given back however the upload ends (success, refusal, abort, error).
import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename as move, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import type { Request, RequestHandler, Response } from "express";
import { z } from "zod";
import { authenticate, actorOf, type Principal } from "../auth/principal.js";
import { requireAction, resolveScope, scopeForAdapter, viewerOf } from "../auth/policy.js";
import { httpStatusOf, isQuiverError, QuiverError } from "../errors.js";
import type { Services } from "../services.js";
import { archiveKind, extractArchive } from "./archive.js";
import { CONFIG_FILE, WEIGHTS_FILE, withConfiguredLimits, type UploadLimits } from "./limits.js";
import { UploadSlots, type UploadSlot } from "./upload-slots.js";

const uuid = z.string().uuid();

const fieldsSchema = z.object({
  name: z.string().trim(),
  description: z.string().max(2000).default(""),
  visibility: z.enum(["PRIVATE", "PUBLIC"]).default("PRIVATE"),
  teamId: uuid.optional(),
  samples: z.array(z.string()),
});

function sendError(res: Response, err: unknown): void {
  if (res.headersSent) return;
  if (isQuiverError(err)) {
    const retryAfter = err.details?.retryAfterSeconds;
    if (typeof retryAfter === "number" && Number.isFinite(retryAfter)) res.set("Retry-After", String(Math.max(0, Math.ceil(retryAfter))));
    res.status(httpStatusOf[err.code]).json({
      errors: [
        { message: err.message, extensions: { code: err.code, ...(err.hint ? { hint: err.hint } : {}), ...(err.details ? { details: err.details } : {}) } },
      ],
    });
    return;
  }
  console.error("[api] upload failed:", err);
  res.status(500).json({ errors: [{ message: "Internal server error", extensions: { code: "INTERNAL" } }] });
}

interface Parsed {
  fields: Record<string, string>;
  /** Set once the fields were checked (before the first file). */
  checked: boolean;
}

/**
 * Streams the multipart body: fields into `parsed.fields`; on the first file, `onFields`
 * runs the checks; files are written into `staging` (two PEFT files, or one archive).
 */
function receive(
  req: Request,
  staging: string,
  limits: UploadLimits,
  onFields: (fields: Record<string, string>) => Promise<void>,
): Promise<{ archive?: { file: string; kind: NonNullable<ReturnType<typeof archiveKind>> } }> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        limits: { fileSize: limits.maxWeightsBytes, files: 2, fields: 16, fieldSize: 256 * 1024, parts: 20, headerPairs: 50 },
      });
    } catch {
      reject(new QuiverError("BAD_USER_INPUT", "Send the adapter as multipart/form-data."));
      return;
    }
    const parsed: Parsed = { fields: {}, checked: false };
    const writes: Promise<void>[] = [];
    // File parts being received, ended at once on a failure (so that their writes settle).
    const open = new Set<Readable>();
    const seen = new Set<string>();
    let archive: { file: string; kind: NonNullable<ReturnType<typeof archiveKind>> } | undefined;
    let failed = false;
    let checks: Promise<void> | undefined;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      req.unpipe(bb);
      req.resume();
      // End the parts being received (with an error: a part destroyed without one after its
      // last byte arrived would leave its write waiting forever), and answer once every write
      // has settled, so nothing is written into the staging folder after the caller removes it.
      for (const s of open) s.destroy(new Error("the upload failed"));
      void Promise.allSettled(writes).then(() => reject(err));
    };
    bb.on("field", (name, value, info) => {
      if (info.valueTruncated) return fail(new QuiverError("PAYLOAD_TOO_LARGE", `field "${name}" is too long`));
      if (parsed.checked) return fail(new QuiverError("BAD_USER_INPUT", "Send every field before the files."));
      parsed.fields[name] = value;
    });
    bb.on("file", (_field, stream, info) => {
      const filename = path.basename(info.filename ?? "");
      const kind = archiveKind(filename);
      const target = filename === CONFIG_FILE || filename === WEIGHTS_FILE ? filename : kind ? `upload.${kind}` : undefined;
      if (failed) return stream.resume();
      if (!target) {
        stream.resume();
        return fail(
          new QuiverError("ADAPTER_INVALID", `unexpected file "${filename}": send ${CONFIG_FILE} and ${WEIGHTS_FILE}, or one .zip/.tar/.tar.gz archive`, {
            details: { reason: "UNEXPECTED_FILE" },
          }),
        );
      }
      if (seen.has(target) || (kind && seen.size > 0) || archive) {
        stream.resume();
        return fail(new QuiverError("ADAPTER_INVALID", "send the two PEFT files or one archive, each once", { details: { reason: "UNEXPECTED_FILE" } }));
      }
      seen.add(target);
      parsed.checked = true;
      // The checks run once, on the first file; no file is written before they pass.
      checks ??= onFields(parsed.fields);
      const checked = checks;
      const maxBytes = filename === CONFIG_FILE ? limits.maxConfigBytes : limits.maxWeightsBytes;
      const file = path.join(staging, target);
      if (kind) archive = { file, kind };
      open.add(stream);
      // A failure destroys the part with an error (which ends its write); it is reported there.
      stream.on("error", () => undefined);
      stream.once("close", () => open.delete(stream));
      writes.push(
        (async () => {
          await checked;
          if (failed) {
            stream.resume();
            return;
          }
          let size = 0;
          stream.on("data", (c: Buffer) => {
            size += c.length;
            if (size > maxBytes) stream.destroy(new QuiverError("PAYLOAD_TOO_LARGE", `${filename} is larger than the limit of ${maxBytes} bytes`));
          });
          stream.on("limit", () =>
            stream.destroy(new QuiverError("PAYLOAD_TOO_LARGE", `${filename} is larger than the limit of ${limits.maxWeightsBytes} bytes`)),
          );
          await pipeline(stream, createWriteStream(file, { flags: "wx" }));
        })().catch((err: unknown) => {
          stream.resume();
          fail(err);
        }),
      );
    });
    bb.on("filesLimit", () =>
      fail(new QuiverError("ADAPTER_INVALID", "too many files: send the two PEFT files or one archive", { details: { reason: "UNEXPECTED_FILE" } })),
    );
    bb.on("fieldsLimit", () => fail(new QuiverError("BAD_USER_INPUT", "too many form fields")));
    bb.on("partsLimit", () => fail(new QuiverError("BAD_USER_INPUT", "too many form parts")));
    bb.on("error", (err: Error) => fail(new QuiverError("BAD_USER_INPUT", `malformed multipart body: ${err.message}`)));
    bb.on("close", () => {
      void Promise.all(writes).then(() => {
        if (failed) return;
        if (!parsed.checked)
          return fail(
            new QuiverError("ADAPTER_INVALID", `no files: send ${CONFIG_FILE} and ${WEIGHTS_FILE}, or one archive`, { details: { reason: "FILE_MISSING" } }),
          );
        resolve(archive ? { archive } : {});
      });
    });
    req.on("aborted", () => fail(new QuiverError("BAD_USER_INPUT", "the upload was interrupted")));
    req.on("close", () => {
      if (!req.complete) fail(new QuiverError("BAD_USER_INPUT", "the upload was interrupted"));
    });
    req.pipe(bb);
  });
}

function createdBy(p: Principal): string | null {
  return p.kind === "user" ? p.user.id : p.createdById;
}

export function adapterUploadRoutes(services: Services, configured: UploadLimits): { create: RequestHandler; newVersion: RequestHandler } {
  const stagingRoot = path.join(services.config.dataDir, "staging");
  const limits = withConfiguredLimits(configured, services.config);
  const slots = new UploadSlots(services.config.QUIVER_UPLOADS_PER_TEAM, services.config.QUIVER_UPLOADS_PER_SERVER);

  /** Takes the upload's slot for its team (once the team is known); throws RATE_LIMITED past a limit. */
  type Admit = (teamId: string) => void;

  const withStaging = async (res: Response, work: (staging: string, admit: Admit) => Promise<() => void>) => {
    // The staging folder is gone, and the upload's slot given back, before the client hears
    // the outcome, success or not.
    const staging = path.join(stagingRoot, randomUUID());
    let slot: UploadSlot | undefined;
    const admit: Admit = (teamId) => {
      slot ??= slots.acquire(teamId);
    };
    let outcome: { ok: true; send: () => void } | { ok: false; err: unknown };
    try {
      try {
        await mkdir(staging, { recursive: true });
        const send = await work(staging, admit);
        outcome = { ok: true, send };
      } catch (err) {
        outcome = { ok: false, err };
      }
      await rm(staging, { recursive: true, force: true });
    } finally {
      slot?.release();
    }
    if (outcome.ok) outcome.send();
    else sendError(res, outcome.err);
  };

  const create: RequestHandler = (req, res) =>
    withStaging(res, async (staging, admit) => {
      const principal = await authenticate(services.identity, req.headers.authorization);
      if (!principal) throw new QuiverError("UNAUTHENTICATED", "Sign in or send an API key.");
      let input: z.infer<typeof fieldsSchema> | undefined;
      let teamId = "";
      const received = await receive(req, staging, limits, async (fields) => {
        let samples: unknown;
        try {
          samples = JSON.parse(fields.samples ?? "null");
        } catch {
          throw new QuiverError("SAMPLES_INVALID", "samples must be a JSON array of strings", { details: { reason: "MALFORMED" } });
        }
        const parsed = fieldsSchema.safeParse({ ...fields, samples });
        if (!parsed.success) {
          const i = parsed.error.issues[0]!;
          const field = i.path.join(".");
          throw new QuiverError(field.startsWith("samples") ? "SAMPLES_INVALID" : "BAD_USER_INPUT", `${field}: ${i.message}`, {
            details: { field, reason: "MALFORMED" },
          });
        }
        input = parsed.data;
        const header = req.headers["x-quiver-team"];
        const scope = resolveScope(principal, { argument: input.teamId, header: typeof header === "string" ? header : undefined }, "adapter.write");
        // Publishing decides what other teams may add to their pools: ADMIN and above.
        if (input.visibility === "PUBLIC") requireAction(scope, "adapter.publish");
        teamId = scope.teamId;
        admit(teamId);
        await services.pool.precheck({ teamId, name: input.name, samples: input.samples });
      });
      const folder = path.join(staging, "adapter");
      await mkdir(folder);
      if (received.archive) await extractArchive(received.archive.file, received.archive.kind, folder, limits);
      else for (const f of [CONFIG_FILE, WEIGHTS_FILE]) await rename(path.join(staging, f), path.join(folder, f));
      const adapter = await services.pool.register({
        teamId,
        name: input!.name,
        description: input!.description,
        visibility: input!.visibility,
        samples: input!.samples,
        stagingDir: folder,
        createdById: createdBy(principal),
        actor: actorOf(principal),
      });
      return () =>
        res.status(201).json({ adapter: { id: adapter.id, name: adapter.name, status: adapter.status, version: adapter.currentVersion?.version ?? 1 } });
    });

  const newVersion: RequestHandler = (req, res) =>
    withStaging(res, async (staging, admit) => {
      const principal = await authenticate(services.identity, req.headers.authorization);
      if (!principal) throw new QuiverError("UNAUTHENTICATED", "Sign in or send an API key.");
      const id = String(req.params.id ?? "");
      const header = req.headers["x-quiver-team"];
      const viewer = viewerOf(principal, typeof header === "string" ? header : undefined);
      const adapter = uuid.safeParse(id).success ? await services.adapters.get(viewer, id) : null;
      if (!adapter) throw new QuiverError("NOT_FOUND", "No such adapter.");
      scopeForAdapter(viewer, adapter, "adapter.write");
      admit(adapter.team.id);
      const received = await receive(req, staging, limits, async () => undefined);
      const folder = path.join(staging, "adapter");
      await mkdir(folder);
      if (received.archive) await extractArchive(received.archive.file, received.archive.kind, folder, limits);
      else for (const f of [CONFIG_FILE, WEIGHTS_FILE]) await rename(path.join(staging, f), path.join(folder, f));
      const updated = await services.pool.replaceWeights(adapter, folder, createdBy(principal), actorOf(principal));
      return () =>
        res.status(201).json({ adapter: { id: updated.id, name: updated.name, status: updated.status, version: updated.currentVersion?.version ?? null } });
    });

  return { create, newVersion };
}

async function rename(from: string, to: string): Promise<void> {
  try {
    await move(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new QuiverError("ADAPTER_INVALID", `${path.basename(from)} is missing: send ${CONFIG_FILE} and ${WEIGHTS_FILE}, or one archive`, {
        details: { reason: "FILE_MISSING" },
      });
    }
    throw err;
  }
}
