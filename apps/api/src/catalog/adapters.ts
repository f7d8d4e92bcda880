// The adapter pool as the API reads it: listing with search and cursor pagination.
import { QuiverError } from "../errors.js";
import type { Prisma, PrismaClient } from "./generated/client.js";
import type { PoolOwner, TeamScope, Viewer } from "../auth/policy.js";
import { audit, type Actor } from "./audit.js";
import { poolWhere, visibleWhere } from "./scope-sql.js";

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
    select: {
      id: true,
      storageUri: true,
      version: true,
      rank: true,
      alpha: true,
      scaling: true,
      targetModules: true,
      dtype: true,
      byteSize: true,
      contentHash: true,
    },
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
   * A team's adapters: its own, plus (with `includePublic`) the other teams' PUBLIC adapters it
   * has added to its pool. Sorted by `order` (name by default), then id; `after` is an opaque
   * cursor from a previous page of the same order.
   */
  list(scope: TeamScope, args: { includePublic: boolean; search?: string; first: number; after?: string; order?: AdapterOrder }): Promise<AdapterPage> {
    const own: Prisma.AdapterWhereInput = { teamId: scope.teamId };
    const added: Prisma.AdapterWhereInput = { visibility: "PUBLIC", addedTo: { some: { teamId: scope.teamId } } };
    return this.page(args.includePublic ? { OR: [own, added] } : own, args);
  }

  /** The catalogue: every team's PUBLIC adapters, for a team to choose from. */
  catalogue(viewer: Viewer, args: { search?: string; first: number; after?: string; order?: AdapterOrder }): Promise<AdapterPage> {
    return this.page({ AND: [visibleWhere(viewer), { visibility: "PUBLIC" }] }, args);
  }

  private async page(visible: Prisma.AdapterWhereInput, args: { search?: string; first: number; after?: string; order?: AdapterOrder }): Promise<AdapterPage> {
    const order: AdapterOrder = args.order ?? { field: "name", direction: "asc" };
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

  /** An adapter the viewer may see (its team's, or PUBLIC); null otherwise, as if absent. */
  async get(viewer: Viewer, id: string): Promise<AdapterRecord | null> {
    return (await this.getMany(viewer, [id]))[0] ?? null;
  }

  /** Several adapters the viewer may see, in the order asked (others left out). */
  async getMany(viewer: Viewer, ids: readonly string[]): Promise<AdapterRecord[]> {
    if (ids.length === 0) return [];
    return inOrder(ids, await this.prisma.adapter.findMany({ where: { id: { in: [...ids] }, ...visibleWhere(viewer) }, select: adapterFields }));
  }

  /**
   * Adapters by id for the server's own work (start-up registration, background embedding, a
   * write reading back what it wrote, benchmarks). Never on a request's read path: lint keeps
   * it out of the GraphQL resolvers and HTTP routes.
   */
  async getForSystem(ids: readonly string[]): Promise<AdapterRecord[]> {
    return inOrder(ids, await this.prisma.adapter.findMany({ where: { id: { in: [...ids] } }, select: adapterFields }));
  }

  /** Which of `ids` are in the team's pool (its own, or PUBLIC and added). */
  async inPool(scope: TeamScope, ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.prisma.adapter.findMany({
      where: { id: { in: [...ids] }, OR: [{ teamId: scope.teamId }, { visibility: "PUBLIC", addedTo: { some: { teamId: scope.teamId } } }] },
      select: { id: true },
    });
    return new Set(rows.map((r) => r.id));
  }

  /** Adds another team's PUBLIC adapter to the scope's pool; false when it is no such adapter. */
  async addToPool(scope: TeamScope, adapterId: string, actor: Actor): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const a = await tx.adapter.findFirst({ where: { id: adapterId, visibility: "PUBLIC", NOT: { teamId: scope.teamId } }, select: { id: true, name: true } });
      if (!a) return false;
      await tx.teamPoolAdapter.upsert({
        where: { teamId_adapterId: { teamId: scope.teamId, adapterId } },
        create: { teamId: scope.teamId, adapterId, addedById: actor.userId ?? null },
        update: {},
      });
      await audit(tx, { teamId: scope.teamId, actor, action: "pool.add", targetType: "Adapter", targetId: adapterId, metadata: { name: a.name } });
      return true;
    });
  }

  /** Removes an added adapter from the scope's pool; false when it was not there. */
  async removeFromPool(scope: TeamScope, adapterId: string, actor: Actor): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const r = await tx.teamPoolAdapter.deleteMany({ where: { teamId: scope.teamId, adapterId } });
      if (r.count === 0) return false;
      await audit(tx, { teamId: scope.teamId, actor, action: "pool.remove", targetType: "Adapter", targetId: adapterId, metadata: {} });
      return true;
    });
  }

  /**
   * An ACTIVE adapter by name in the team's pool: its own first, else a unique added PUBLIC
   * one. Never another team's adapter that the team has not added.
   */
  async findUsableByName(scope: TeamScope, name: string): Promise<string | undefined> {
    const rows = await this.prisma.adapter.findMany({ where: { name, ...poolWhere(scope) }, select: { id: true, teamId: true }, take: 3 });
    const own = rows.find((r) => r.teamId === scope.teamId);
    if (own) return own.id;
    if (rows.length > 1)
      throw new QuiverError("CONFLICT", `Several adapters named "${name}" are in your team's pool; pin it by id through GraphQL.`, {
        details: { argument: "model" },
      });
    return rows[0]?.id;
  }

  /** Names of the ACTIVE adapters in the team's pool. */
  async usableNames(scope: TeamScope): Promise<string[]> {
    const rows = await this.prisma.adapter.findMany({ where: poolWhere(scope), select: { name: true }, orderBy: { name: "asc" }, take: 1000 });
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

  /**
   * What a generation needs of the adapters asked for, in `ids` order, of those the team may
   * serve (its own in any status, so that the caller hears why one is unusable, and the PUBLIC
   * ones it added); two statements, not four.
   */
  async getManyForServing(owner: PoolOwner, ids: readonly string[]): Promise<ServingAdapterRecord[]> {
    const where: Prisma.AdapterWhereInput = {
      id: { in: [...ids] },
      OR: [{ teamId: owner.teamId }, { visibility: "PUBLIC", addedTo: { some: { teamId: owner.teamId } } }],
    };
    return inOrder(ids, await this.prisma.adapter.findMany({ where, select: servingFields }));
  }
}

/** `rows` in the order of `ids`, ids without a row left out. */
function inOrder<T extends { id: string }>(ids: readonly string[], rows: T[]): T[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
}
