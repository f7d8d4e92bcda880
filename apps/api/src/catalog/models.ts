// Base models: the one model a Quiver server serves, recorded so adapters can refer to it.
import type { Prisma, PrismaClient } from "./generated/client.js";

export interface BaseModelInput {
  name: string;
  architecture: string;
  config: Prisma.InputJsonValue;
  hiddenSize: number;
  numLayers: number;
  vocabSize: number;
  contextLength: number;
  dtype: string;
  storageUri: string;
  contentHash: string;
}

export class ModelStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Records the served model (by name), updating what changed since the last start. */
  upsert(m: BaseModelInput) {
    return this.prisma.baseModel.upsert({ where: { name: m.name }, create: m, update: m, select: { id: true, name: true, contentHash: true } });
  }
}
