import { passwordWork, WorkGate } from "./password-work.js";
import { hashPassword, verifyPassword } from "./passwords.js";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test("runs at most `concurrency` tasks, queues up to maxQueue, refuses the next with RATE_LIMITED", async () => {
  const gate = new WorkGate({ concurrency: 2, maxQueue: 3 });
  let running = 0;
  let most = 0;
  const releases: (() => void)[] = [];
  const task = () => {
    running++;
    most = Math.max(most, running);
    const d = deferred();
    releases.push(d.resolve);
    return d.promise.then(() => {
      running--;
      return "done";
    });
  };
  const accepted = Array.from({ length: 5 }, () => gate.run(task));
  await Promise.resolve();
  expect(gate.running).toBe(2);
  expect(gate.queued).toBe(3);
  await expect(gate.run(task)).rejects.toMatchObject({ code: "RATE_LIMITED", details: { retryAfterSeconds: 1, limit: "passwordHashQueue", max: 3 } });
  // Release them one by one: a freed slot goes to the next waiting task.
  while (releases.length) {
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  expect(await Promise.all(accepted)).toEqual(["done", "done", "done", "done", "done"]);
  expect(most).toBe(2);
  expect(gate.running).toBe(0);
  expect(gate.queued).toBe(0);
});

test("a failing task frees its slot", async () => {
  const gate = new WorkGate({ concurrency: 1, maxQueue: 0 });
  await expect(gate.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  await expect(gate.run(() => Promise.resolve(1))).resolves.toBe(1);
});

test("argon2 hashing and verification go through the process's gate", async () => {
  const previous = { concurrency: 2, maxQueue: 32 };
  passwordWork.configure({ concurrency: 1, maxQueue: 1 });
  try {
    const hash = await hashPassword("a-long-password-1");
    // One running, one waiting, the third refused.
    const results = await Promise.allSettled([
      verifyPassword(hash, "a-long-password-1"),
      verifyPassword(hash, "wrong-password-22"),
      verifyPassword(hash, "third-password-333"),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    expect(results.slice(0, 2).map((r) => (r as PromiseFulfilledResult<boolean>).value)).toEqual([true, false]);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: "RATE_LIMITED" });
  } finally {
    passwordWork.configure(previous);
  }
});
