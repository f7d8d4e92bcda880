// The adapter pool as the API reads it: listing with search and cursor pagination.
import { QuiverError } from "../errors.js";
import type { Prisma, PrismaClient } from "./generated/client.js";

const adapterFields = {
  id: true,
  name: true,
  description: true,
  visibility: true,
  status: true,
  statusReason: true,
  createdAt: true,
  updatedAt: true,
  team: { select: { id: true, name: true, slug: true } },
  baseModel: { select: { id: true, name: true } },
  currentVersion: {
    select: { version: true, rank: true, alpha: true, scaling: true, targetModules: true, dtype: true, byteSize: true, contentHash: true },
  },
} satisfies Prisma.AdapterSelect;

export type AdapterRecord = Prisma.AdapterGetPayload<{ select: typeof adapterFields }>;

export interface AdapterPage {
  nodes: AdapterRecord[];
  cursors: string[];
  hasNextPage: boolean;
  totalCount: number;
}

interface Cursor {
  name: string;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.name, c.id])).toString("base64url");
}

function decodeCursor(s: string): Cursor {
  try {
    const [name, id] = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as unknown[];
    if (typeof name === "string" && typeof id === "string") return { name, id };
  } catch {
    // fall through to the coded error
  }
  throw new QuiverError("BAD_USER_INPUT", "invalid pagination cursor", { details: { argument: "after" } });
}

export class AdapterStore {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Adapters visible from `teamId`: the team's own, plus every team's PUBLIC adapters when
   * `includePublic`. Sorted by name, then id; `after` is an opaque cursor from a previous page.
   */
  async list(args: { teamId: string; includePublic: boolean; search?: string; first: number; after?: string }): Promise<AdapterPage> {
    const visible: Prisma.AdapterWhereInput = args.includePublic
      ? { OR: [{ teamId: args.teamId }, { visibility: "PUBLIC" }] }
      : { teamId: args.teamId };
    const search: Prisma.AdapterWhereInput = args.search
      ? { OR: [{ name: { contains: args.search, mode: "insensitive" } }, { description: { contains: args.search, mode: "insensitive" } }] }
      : {};
    const where: Prisma.AdapterWhereInput = { AND: [visible, search] };
    const cursor = args.after ? decodeCursor(args.after) : undefined;
    const page: Prisma.AdapterWhereInput = cursor
      ? { AND: [where, { OR: [{ name: { gt: cursor.name } }, { name: cursor.name, id: { gt: cursor.id } }] }] }
      : where;
    const [rows, totalCount] = await Promise.all([
      this.prisma.adapter.findMany({ where: page, orderBy: [{ name: "asc" }, { id: "asc" }], take: args.first + 1, select: adapterFields }),
      this.prisma.adapter.count({ where }),
    ]);
    const nodes = rows.slice(0, args.first);
    return { nodes, cursors: nodes.map((n) => encodeCursor(n)), hasNextPage: rows.length > args.first, totalCount };
  }

  get(id: string): Promise<AdapterRecord | null> {
    return this.prisma.adapter.findUnique({ where: { id }, select: adapterFields });
  }
}
