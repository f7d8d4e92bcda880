// The billing invariant, under random write latencies: at every moment
// delivered <= billed <= delivered + BILL_AHEAD (billed: committed), and while billing is
// suspended (an outage) nothing waits.
import { BILL_AHEAD, UsageMeter } from "./usage-meter.js";

function rng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test("delivered <= billed <= delivered + 32 at every step, with writes of random latency", async () => {
  for (const seed of [1, 2, 3]) {
    const random = rng(seed);
    let billed = 0;
    const maxTokens = 300;
    const meter = new UsageMeter({
      maxTokens,
      deliver: (_text, tokens) => expect(tokens).toBeLessThanOrEqual(billed),
      bill: async (tokensOut) => {
        for (let i = Math.floor(random() * 4); i > 0; i--) await tick();
        billed = Math.max(billed, tokensOut);
        return true;
      },
      unmetered: () => false,
    });
    meter.start();
    for (let n = 0; n < maxTokens; n++) {
      meter.push(random() < 0.1 ? "" : "x", 1);
      if (random() < 0.5) await tick();
      // (delivered counts a token whose text the decoder still holds: it went with the next.)
      expect(billed).toBeLessThanOrEqual(meter.state.delivered + BILL_AHEAD);
      expect(meter.state.delivered).toBeLessThanOrEqual(billed);
    }
    for (let i = 0; i < 20; i++) await tick();
    expect(meter.state).toEqual({ generated: maxTokens, delivered: maxTokens, billed: maxTokens });
  }
});

test("with instant writes nothing waits: each token goes at once", async () => {
  const out: string[] = [];
  const meter = new UsageMeter({ maxTokens: 100, deliver: (t) => out.push(t), bill: async () => true, unmetered: () => false });
  meter.start();
  await tick();
  for (let n = 0; n < 100; n++) {
    meter.push(`t${n} `, 1);
    expect(out).toHaveLength(n + 1);
    await tick();
  }
});

test("while billing is suspended (database out of reach) tokens go at once, and the end lets the rest go", async () => {
  let down = false;
  const out: number[] = [];
  const pending: (() => void)[] = [];
  const meter = new UsageMeter({
    maxTokens: 200,
    deliver: (_t, n) => out.push(n),
    // Writes never complete while "down"; the outbox answers false at once then.
    bill: () => (down ? Promise.resolve(false) : new Promise<boolean>((r) => pending.push(() => r(true)))),
    unmetered: () => down,
  });
  meter.start();
  meter.push("a", 1);
  expect(out).toEqual([]); // held: not billed yet
  down = true;
  meter.push("b", 1);
  expect(out).toEqual([1, 2]); // the outage: nothing waits
  for (let n = 0; n < 50; n++) meter.push("c", 1);
  expect(out.at(-1)).toBe(52);
  down = false;
  meter.push("d", 1);
  expect(out.at(-1)).toBe(52); // billing again: held until written
  meter.end();
  expect(out.at(-1)).toBe(53);
});
