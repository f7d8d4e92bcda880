/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// The OpenAI-compatible API with the official OpenAI client, unchanged, against a real server
// on PostgreSQL serving stories260K: completions and chat, streaming (SSE) and not, models,
// errors in OpenAI's shape, and a disconnected stream cancelling its generation.
import OpenAI from "openai";
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import { gql, login, startTestServer } from "../helpers/server.js";
import { adapterFiles, tempDir, upload } from "../helpers/pool.js";
import { convertStories, storiesAdapter, storiesSkipReason } from "../helpers/stories.js";

const skip = storiesSkipReason() ?? (process.env.QUIVER_REQUIRE_POSTGRES === "1" ? undefined : postgresSkipReason());
if (skip) console.log(`Skipping the OpenAI API tests: ${skip}`);
const describeIt = skip ? describe.skip : describe;

describeIt("OpenAI-compatible API (PostgreSQL, stories260K)", () => {
  let quiver: Quiver;
  let url: string;
  let key: string;
  let client: OpenAI;

  beforeAll(async () => {
    quiver = await startTestServer(await openCatalog({ databaseUrl: await freshPostgresDatabase() }), {
      QUIVER_MODEL: convertStories(),
      QUIVER_DATA_DIR: tempDir("openai-data"),
      QUIVER_DEVICE: "cpu",
    });
    url = quiver.api.url;
    const token = await login(url);
    const samples = Array.from({ length: 12 }, (_, i) => `Tell a story about a ${["cat", "dog", "bird", "fox", "bear", "frog"][i % 6]} number ${i}.`);
    expect((await upload(url, token, { name: "storyteller", samples }, adapterFiles(storiesAdapter(5)))).status).toBe(201);
    await quiver.services.pool.idle();
    const team = await quiver.services.catalog.prisma.team.findFirstOrThrow();
    const k = await gql<{ createApiKey: { secret: string } }>(
      url,
      `mutation($t: ID!) { createApiKey(teamId: $t, name: "openai", role: MEMBER) { secret } }`,
      { t: team.id },
      { authorization: `Bearer ${token}` },
    );
    key = k.data!.createApiKey.secret;
    client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
  }, 180_000);
  afterAll(() => quiver?.close());

  test("completions: the same text with and without streaming; usage counts the tokens", async () => {
    const full = await client.completions.create({ model: "auto", prompt: "Once upon a time", max_tokens: 24, temperature: 0 });
    expect(full.object).toBe("text_completion");
    expect(full.choices[0]!.text.length).toBeGreaterThan(0);
    expect(full.usage).toMatchObject({ completion_tokens: expect.any(Number), prompt_tokens: expect.any(Number) });
    const stream = await client.completions.create({ model: "auto", prompt: "Once upon a time", max_tokens: 24, temperature: 0, stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(full.choices[0]!.text);
    expect(finish).toBe(full.choices[0]!.finish_reason);
  });

  test("chat completions, streamed, with an adapter chosen by name", async () => {
    const stream = await client.chat.completions.create({
      model: "storyteller",
      messages: [
        { role: "system", content: "You tell short stories." },
        { role: "user", content: "Tell a story about a cat." },
      ],
      max_tokens: 16,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    let usage: OpenAI.CompletionUsage | undefined;
    let role: string | undefined;
    for await (const chunk of stream) {
      role ??= chunk.choices[0]?.delta.role;
      content += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(role).toBe("assistant");
    expect(content.length).toBeGreaterThan(0);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    const rec = await quiver.services.catalog.prisma.generation.findFirstOrThrow({ orderBy: { createdAt: "desc" }, include: { adapters: true } });
    expect(rec).toMatchObject({ strategy: "SELECTION", status: "DONE" });
    expect(rec.adapters.map((a) => a.adapterName)).toEqual(["storyteller"]);
  });

  test("models lists auto, base and the team's adapters", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(["auto", "base", "storyteller"]);
  });

  test("errors arrive in OpenAI's shape, and the service keeps serving", async () => {
    await expect(
      new OpenAI({ apiKey: "qk_00000000_" + "A".repeat(43), baseURL: `${url}/v1`, maxRetries: 0 }).completions.create({ model: "auto", prompt: "x" }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(client.completions.create({ model: "no-such-adapter", prompt: "x" })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.completions.create({ model: "auto", prompt: "x", max_tokens: -1 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.completions.create({ model: "auto", prompt: "x", n: 2 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(client.completions.create({ model: "auto", prompt: "word ".repeat(2000) })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    for (const body of ["{ not json", JSON.stringify({ model: "auto" }), JSON.stringify({ model: "auto", prompt: 5, stream: true })]) {
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body,
      });
      expect(res.status).toBe(400);
      const json = (await res.json()) as { error: { type: string; code: string; message: string } };
      expect(json.error).toMatchObject({ type: "invalid_request_error", code: "BAD_USER_INPUT" });
    }
    const ok = await client.completions.create({ model: "base", prompt: "", max_tokens: 3, temperature: 0 });
    expect(ok.choices[0]!.finish_reason).toBe("length");
  });

  test("a client that drops an SSE stream cancels the generation", async () => {
    const controller = new AbortController();
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "base", prompt: "Once", max_tokens: 450, temperature: 0.8, stream: true, ignore_eos: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const id = /"id":"cmpl-([0-9a-f-]{36})"/.exec(first)![1]!;
    controller.abort();
    let status = "";
    for (let i = 0; i < 60 && !["CANCELLED", "DONE"].includes(status); i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await quiver.services.catalog.prisma.generation.findUniqueOrThrow({ where: { id } })).status;
    }
    expect(status).toBe("CANCELLED");
  });
});
