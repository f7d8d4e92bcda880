import { RateLimiter } from "./rate-limit.js";

test("allows the limit per window, then refuses with a retry time, then allows again", () => {
  const rl = new RateLimiter(3, 1000);
  for (let i = 0; i < 3; i++) rl.hit("k", 0);
  expect(() => rl.hit("k", 500)).toThrow(expect.objectContaining({ code: "RATE_LIMITED", details: { retryAfterSeconds: 1 } }));
  expect(() => rl.hit("other", 500)).not.toThrow();
  expect(() => rl.hit("k", 1000)).not.toThrow();
});
