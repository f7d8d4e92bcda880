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
  teamId: true,
  currentVersion: {
    select: { id: true, storageUri: true, version: true, rank: true, alpha: true, scaling: true, targetModules: true, dtype: true, byteSize: true, contentHash: true },
  },
} satisfies Prisma.AdapterSelect;

export type AdapterRecord = Prisma.AdapterGetPayload<{ select: typeof adapterFields }>;

/** What a generation needs of an adapter: no team or base-model relation to load. */
const servingFields = {
  id: true,
  name: true,
  visibility: true,
  status: true,
  teamId: true,
  baseModelId: true,
  currentVersion: { select: { id: true, storageUri: true } },
} satisfies Prisma.AdapterSelect;

export type ServingAdapterRecord = Prisma.AdapterGetPayload<{ select: typeof servingFields }>;

export interface AdapterPage {
  nodes: AdapterRecord[];
  cursors: string[];
  hasNextPage: boolean;
  totalCount: number;
}

export type AdapterOrderField = "name" | "updatedAt" | "createdAt";
export type AdapterOrder = { field: AdapterOrderField; direction: "asc" | "desc" };

interface Cursor {
  field: AdapterOrderField;
  value: string;
  id: string;
}

function encodeCursor(order: AdapterOrder, a: AdapterRecord): string {
  const v = a[order.field];
  return Buffer.from(JSON.stringify([order.field, v instanceof Date ? v.toISOString() : v, a.id])).toString("base64url");
}

function decodeCursor(s: string, order: AdapterOrder): Cursor {
  try {
    const [field, value, id] = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as unknown[];
    if (field === order.field && typeof value === "string" && typeof id === "string") return { field: order.field, value, id };
  } catch {
    // fall through to the coded error
  }
  throw new QuiverError("BAD_USER_INPUT", "invalid pagination cursor (or one from another sort order)", { details: { argument: "after" } });
}

/** Rows after the cursor in (field, id) order. */
function after(order: AdapterOrder, c: Cursor): Prisma.AdapterWhereInput {
  const value = order.field === "name" ? c.value : new Date(c.value);
  const op = order.direction === "asc" ? "gt" : "lt";
  return { OR: [{ [order.field]: { [op]: value } }, { [order.field]: value, id: { [op]: c.id } }] };
}

export class AdapterStore {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Adapters visible from `teamId`: the team's own, plus every team's PUBLIC adapters when
   * `includePublic`. Sorted by `order` (name by default), then id; `after` is an opaque cursor
   * from a previous page of the same order.
   */
  async list(args: { teamId: string; includePublic: boolean; search?: string; first: number; after?: string; order?: AdapterOrder }): Promise<AdapterPage> {
    const order: AdapterOrder = args.order ?? { field: "name", direction: "asc" };
    const visible: Prisma.AdapterWhereInput = args.includePublic
      ? { OR: [{ teamId: args.teamId }, { visibility: "PUBLIC" }] }
      : { teamId: args.teamId };
    const search: Prisma.AdapterWhereInput = args.search
      ? { OR: [{ name: { contains: args.search, mode: "insensitive" } }, { description: { contains: args.search, mode: "insensitive" } }] }
      : {};
    const where: Prisma.AdapterWhereInput = { AND: [visible, search] };
    const cursor = args.after ? decodeCursor(args.after, order) : undefined;
    const page: Prisma.AdapterWhereInput = cursor ? { AND: [where, after(order, cursor)] } : where;
    const [rows, totalCount] = await Promise.all([
      this.prisma.adapter.findMany({
        where: page,
        orderBy: [{ [order.field]: order.direction }, { id: order.direction }],
        take: args.first + 1,
        select: adapterFields,
      }),
      this.prisma.adapter.count({ where }),
    ]);
    const nodes = rows.slice(0, args.first);
    return { nodes, cursors: nodes.map((n) => encodeCursor(order, n)), hasNextPage: rows.length > args.first, totalCount };
  }

  get(id: string): Promise<AdapterRecord | null> {
    return this.prisma.adapter.findUnique({ where: { id }, select: adapterFields });
  }

  /** An ACTIVE adapter by name that the team may use: its own first, else a unique PUBLIC one. */
  async findUsableByName(teamId: string, name: string): Promise<string | undefined> {
    const rows = await this.prisma.adapter.findMany({
      where: { name, status: "ACTIVE", OR: [{ teamId }, { visibility: "PUBLIC" }] },
      select: { id: true, teamId: true },
      take: 3,
    });
    const own = rows.find((r) => r.teamId === teamId);
    if (own) return own.id;
    if (rows.length > 1) throw new QuiverError("CONFLICT", `Several teams publish an adapter named "${name}"; pin it by id through GraphQL.`, { details: { argument: "model" } });
    return rows[0]?.id;
  }

  /** Names of the ACTIVE adapters the team may use (its own and PUBLIC ones). */
  async usableNames(teamId: string): Promise<string[]> {
    const rows = await this.prisma.adapter.findMany({
      where: { status: "ACTIVE", OR: [{ teamId }, { visibility: "PUBLIC" }] },
      select: { name: true },
      orderBy: { name: "asc" },
      take: 1000,
    });
    return [...new Set(rows.map((r) => r.name))];
  }

  /** A team's adapters for one base model (any status), with their current weights' hash. */
  async forModel(teamId: string, baseModelId: string): Promise<{ id: string; name: string; status: string; contentHash: string | null }[]> {
    const rows = await this.prisma.adapter.findMany({
      where: { teamId, baseModelId },
      select: { id: true, name: true, status: true, currentVersion: { select: { contentHash: true } } },
      orderBy: { name: "asc" },
    });
    return rows.map((r) => ({ id: r.id, name: r.name, status: r.status, contentHash: r.currentVersion?.contentHash ?? null }));
  }

  /** Several adapters by id, in the order asked (missing ones left out). */
  async getMany(ids: readonly string[]): Promise<AdapterRecord[]> {
    return inOrder(ids, await this.prisma.adapter.findMany({ where: { id: { in: [...ids] } }, select: adapterFields }));
  }

  /** getMany for generation, in `ids` order (missing ones left out): two statements, not four. */
  async getManyForServing(ids: readonly string[]): Promise<ServingAdapterRecord[]> {
    return inOrder(ids, await this.prisma.adapter.findMany({ where: { id: { in: [...ids] } }, select: servingFields }));
  }
}

/** `rows` in the order of `ids`, ids without a row left out. */
function inOrder<T extends { id: string }>(ids: readonly string[], rows: T[]): T[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
}
