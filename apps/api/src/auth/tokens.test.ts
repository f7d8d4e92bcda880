import { classifyBearer, newApiKey, newSessionToken, sha256 } from "./tokens.js";
import { parseAuthorization } from "./principal.js";
import { hashPassword, verifyPassword } from "./passwords.js";

test("session tokens and API keys are recognised by shape, and differ every time", () => {
  const a = newSessionToken();
  const b = newSessionToken();
  expect(a.token).not.toBe(b.token);
  expect(classifyBearer(a.token)).toBe("session");
  expect(a.hash).toBe(sha256(a.token));
  const k = newApiKey();
  expect(classifyBearer(k.key)).toBe("apiKey");
  expect(k.key.startsWith(`${k.prefix}_`)).toBe(true);
  expect(classifyBearer("qs_" + "x".repeat(10))).toBeUndefined();
  expect(classifyBearer(k.key + "x")).toBeUndefined();
});

test("Authorization headers parse strictly", () => {
  expect(parseAuthorization(undefined)).toBeUndefined();
  expect(parseAuthorization("")).toBeUndefined();
  expect(parseAuthorization("Bearer abc")).toBe("abc");
  expect(parseAuthorization("bearer abc")).toBe("abc");
  expect(() => parseAuthorization("Bearer")).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
  expect(() => parseAuthorization("Bearer a b")).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
  expect(() => parseAuthorization(42)).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
});

test("passwords hash with argon2id and verify", async () => {
  const h = await hashPassword("a long enough password");
  expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  expect(await verifyPassword(h, "a long enough password")).toBe(true);
  expect(await verifyPassword(h, "another password")).toBe(false);
  expect(await verifyPassword(undefined, "anything")).toBe(false);
  expect(await verifyPassword("not a hash", "anything")).toBe(false);
});
