/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Changing the encoder of a running deployment: the next start re-embeds the pool in the
// background (an EmbeddingJob with progress), retrieval keeps answering from the previous
// encoder's vectors meanwhile, and the new encoder becomes active when the job completes.
import path from "node:path";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { gql, login, startTestServer } from "../helpers/server.js";
import { adapterFiles, tempDir, upload } from "../helpers/pool.js";
import { convertStories, storiesAdapter, storiesSkipReason } from "../helpers/stories.js";

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the re-embedding test: ${skip}`);
const testModel = skip ? test.skip : test;

testModel(
  "a new encoder re-embeds the pool in the background while retrieval keeps working",
  async () => {
    const dataDir = tempDir("reembed");
    const dbDir = path.join(dataDir, "db");
    const env = { QUIVER_MODEL: convertStories(), QUIVER_DATA_DIR: dataDir, QUIVER_DEVICE: "cpu" };
    const topics = { animals: "Tell a story about a %.", numbers: "What is % plus 3?", weather: "Is it raining in %?" };

    const first = await startTestServer(await openCatalog({ dataDir: dbDir }), env);
    const token = await login(first.api.url);
    let seed = 1;
    for (const [name, template] of Object.entries(topics)) {
      const samples = Array.from({ length: 10 }, (_, i) => template.replace("%", `item ${i}`));
      expect((await upload(first.api.url, token, { name, samples }, adapterFiles(storiesAdapter(seed++)))).status).toBe(201);
    }
    await first.services.pool.idle();
    const before = await first.services.embeddings.activeEncoder();
    await first.close();

    const prev = process.env.QUIVER_ENCODER_PREFIX;
    process.env.QUIVER_ENCODER_PREFIX = "Represent the sentence for similar task retrieval: ";
    try {
      const lines: string[] = [];
      const second = await startTestServer(await openCatalog({ dataDir: dbDir }), env, { log: (l) => lines.push(l) });
      try {
        expect(lines).toContainEqual(
          expect.stringMatching(
            /^\[quiver\] re-embedding the pool under use-lite@0\.2\.0\+prefix:\S+ in the background \(retrieval uses use-lite@0\.2\.0 until it completes\)$/,
          ),
        );
        const t = await login(second.api.url);
        const q = `{ retrieve(input: "Tell a story about a cat.", k: 1) { adapter { name } } }`;
        // Answered during or after the job, from whichever encoder is active.
        const during = await gql<{ retrieve: { adapter: { name: string } }[] }>(second.api.url, q, {}, { authorization: `Bearer ${t}` });
        expect(during.data!.retrieve[0]!.adapter.name).toBe("animals");
        await second.services.embedder!.reembedding;
        const after = await second.services.embeddings.activeEncoder();
        expect(after!.id).not.toBe(before!.id);
        expect(after!.prefix).toBe("Represent the sentence for similar task retrieval: ");
        const job = await second.services.catalog.prisma.embeddingJob.findFirstOrThrow({ where: { encoderId: after!.id } });
        expect(job).toMatchObject({ status: "DONE", total: 3, done: 3 });
        expect(await second.services.catalog.prisma.adapterEmbedding.count({ where: { encoderId: after!.id } })).toBe(3);
        const afterJob = await gql<{ retrieve: { adapter: { name: string } }[] }>(second.api.url, q, {}, { authorization: `Bearer ${t}` });
        expect(afterJob.data!.retrieve[0]!.adapter.name).toBe("animals");
      } finally {
        await second.close();
      }
    } finally {
      if (prev === undefined) delete process.env.QUIVER_ENCODER_PREFIX;
      else process.env.QUIVER_ENCODER_PREFIX = prev;
    }
  },
  180_000,
);
