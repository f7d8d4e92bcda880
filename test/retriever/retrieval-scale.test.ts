// The scale benchmark's machinery on a small pool (the 100k run is by hand, docs/benchmarks.md):
// the scoped search uses the HNSW index unforced, and its top 10 agree with exact search.
import type { Catalog } from "../../apps/api/src/catalog/database.js";
import { EmbeddingStore } from "../../apps/api/src/catalog/embeddings.js";
import { runScaleBench } from "../../apps/api/src/retriever/bench/retrieval-scale.js";
import { catalogKinds } from "../helpers/catalogs.js";

describe.each(catalogKinds())("retrieval scale bench on $kind (2,000 vectors)", ({ open }) => {
  let catalog: Catalog;
  beforeAll(async () => {
    catalog = await open();
  }, 120_000);
  afterAll(async () => {
    await catalog?.close();
  });

  test("HNSW recall@10 against exact search is high and the plan uses the index", async () => {
    const r = await runScaleBench({ store: new EmbeddingStore(catalog.prisma), count: 2000, queries: 20, efSearch: [100], clusters: 100 });
    expect(r.planUsesIndex).toBe(true);
    expect(r.results[0]!.recallAt10).toBeGreaterThanOrEqual(0.95);
    expect(r.results[0]!.searchP50Ms).toBeGreaterThan(0);
    // The pool is removed afterwards.
    expect(await catalog.prisma.adapter.count()).toBe(0);
  }, 240_000);
});
