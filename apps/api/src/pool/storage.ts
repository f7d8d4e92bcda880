// Where adapter files live. A directory by default; the interface lets an object store
// replace it (the engine reads a local folder, so a remote store would stage into one).
import { cp, mkdir, rm, rename } from "node:fs/promises";
import path from "node:path";

export interface AdapterStorage {
  /** Moves a validated staging folder into storage under `key`; returns its URI. */
  put(key: string, stagingDir: string): Promise<string>;
  /** A local folder holding the files of `uri`, for the engine. */
  localDir(uri: string): string;
  remove(uri: string): Promise<void>;
}

const keyShape = /^[0-9a-f-]{36}\/[0-9a-f-]{36}$/;

export class DirectoryStorage implements AdapterStorage {
  constructor(private readonly root: string) {}

  async put(key: string, stagingDir: string): Promise<string> {
    if (!keyShape.test(key)) throw new Error(`invalid storage key ${key}`);
    const target = path.join(this.root, key);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await rename(stagingDir, target);
    } catch (err) {
      // Staging on another filesystem: copy, then drop the staging copy.
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      await cp(stagingDir, target, { recursive: true });
      await rm(stagingDir, { recursive: true, force: true });
    }
    return `file://${target}`;
  }

  localDir(uri: string): string {
    const p = new URL(uri).pathname;
    const root = path.resolve(this.root) + path.sep;
    if (!path.resolve(p).startsWith(root)) throw new Error(`storage URI outside ${this.root}: ${uri}`);
    return p;
  }

  async remove(uri: string): Promise<void> {
    await rm(this.localDir(uri), { recursive: true, force: true });
  }
}
