import { addressKey, LoginLimiter, RateLimiter } from "./rate-limit.js";

test("allows the limit per window, then refuses with a retry time, then allows again", () => {
  const rl = new RateLimiter(3, 1000);
  for (let i = 0; i < 3; i++) rl.hit("k", 0);
  expect(() => rl.hit("k", 500)).toThrow(expect.objectContaining({ code: "RATE_LIMITED", details: { retryAfterSeconds: 1 } }));
  expect(() => rl.hit("other", 500)).not.toThrow();
  expect(() => rl.hit("k", 1000)).not.toThrow();
});

test("a refund gives one attempt back within the window", () => {
  const rl = new RateLimiter(2, 1000);
  rl.hit("k", 0);
  rl.hit("k", 0);
  rl.refund("k", 10);
  expect(() => rl.hit("k", 20)).not.toThrow();
  expect(() => rl.hit("k", 30)).toThrow(expect.objectContaining({ code: "RATE_LIMITED" }));
});

test("a flood of new keys keeps the map bounded", () => {
  const rl = new RateLimiter(1, 60_000);
  for (let i = 0; i < 250_000; i++) rl.hit(`k${i}`, 0);
  expect((rl as unknown as { windows: Map<string, unknown> }).windows.size).toBeLessThanOrEqual(100_000);
});

describe("addressKey", () => {
  test.each([
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::ff", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["unknown", "unknown"],
  ])("%s -> %s", (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});

describe("LoginLimiter", () => {
  const limits = { perPair: 10, pairWindowMs: 60_000, perAddress: 5, perEmail: 4, windowMs: 900_000 };

  test("spraying many emails from one address is limited per address", () => {
    const l = new LoginLimiter(limits);
    for (let i = 0; i < 5; i++) l.attempt("10.0.0.1", `user${i}@example.test`, 0);
    expect(() => l.attempt("10.0.0.1", "user99@example.test", 1000)).toThrow(
      expect.objectContaining({
        code: "RATE_LIMITED",
        message: expect.stringContaining("from this address"),
        details: expect.objectContaining({ retryAfterSeconds: 899 }),
      }),
    );
    // Another address is not affected.
    expect(() => l.attempt("10.0.0.2", "user99@example.test", 1000)).not.toThrow();
  });

  test("one email from many addresses is limited per email, case and spaces aside", () => {
    const l = new LoginLimiter(limits);
    for (let i = 0; i < 4; i++) l.attempt(`10.0.1.${i}`, "Victim@Example.test", 0);
    expect(() => l.attempt("10.0.9.9", " victim@example.test ", 0)).toThrow(
      expect.objectContaining({ code: "RATE_LIMITED", message: expect.stringContaining("for this email") }),
    );
    expect(() => l.attempt("10.0.9.9", "someone.else@example.test", 0)).not.toThrow();
  });

  test("IPv6 addresses in one /64 count as one client", () => {
    const l = new LoginLimiter(limits);
    for (let i = 0; i < 5; i++) l.attempt(`2001:db8:aa:bb::${i + 1}`, `u${i}@example.test`, 0);
    expect(() => l.attempt("2001:db8:aa:bb:ffff::9", "other@example.test", 0)).toThrow(expect.objectContaining({ code: "RATE_LIMITED" }));
    expect(() => l.attempt("2001:db8:aa:cc::1", "other@example.test", 0)).not.toThrow();
  });

  test("successful sign-ins are not counted against the address or the email", () => {
    const l = new LoginLimiter(limits);
    for (let i = 0; i < 9; i++) l.attempt("10.0.0.1", "me@example.test", i).succeeded();
    expect(() => l.attempt("10.0.0.1", "other@example.test", 10)).not.toThrow();
    // ...but every attempt counts for the address-and-email pair (10 a minute).
    l.attempt("10.0.0.1", "me@example.test", 11).succeeded();
    expect(() => l.attempt("10.0.0.1", "me@example.test", 12)).toThrow(
      expect.objectContaining({ code: "RATE_LIMITED", message: expect.stringContaining("for this address and email") }),
    );
  });

  test("refused attempts count nowhere, and the windows end", () => {
    const l = new LoginLimiter(limits);
    for (let i = 0; i < 5; i++) l.attempt("10.0.0.1", `u${i}@example.test`, 0);
    for (let i = 0; i < 50; i++) expect(() => l.attempt("10.0.0.1", "victim@example.test", 0)).toThrow();
    // The refusals did not use up the victim's attempts from elsewhere.
    expect(() => l.attempt("10.0.0.2", "victim@example.test", 0)).not.toThrow();
    expect(() => l.attempt("10.0.0.1", "u9@example.test", limits.windowMs)).not.toThrow();
  });
});
