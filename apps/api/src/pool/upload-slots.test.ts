import { UploadSlots } from "./upload-slots.js";

const A = "team-a";
const B = "team-b";

test("admits up to the team's limit, then refuses with RATE_LIMITED and a retry delay", () => {
  const slots = new UploadSlots(2, 8, 7);
  slots.acquire(A);
  slots.acquire(A);
  expect(() => slots.acquire(A)).toThrow(expect.objectContaining({ code: "RATE_LIMITED", details: { retryAfterSeconds: 7, scope: "team", limit: 2 } }));
  // Another team is not held up by the first one.
  slots.acquire(B);
  expect(slots.inUse(A)).toBe(2);
  expect(slots.inUse(B)).toBe(1);
  expect(slots.inUse()).toBe(3);
});

test("refuses past the server's limit, whichever team asks", () => {
  const slots = new UploadSlots(2, 3);
  slots.acquire(A);
  slots.acquire(A);
  slots.acquire(B);
  expect(() => slots.acquire(B)).toThrow(expect.objectContaining({ code: "RATE_LIMITED", details: expect.objectContaining({ scope: "server", limit: 3 }) }));
  expect(() => slots.acquire("team-c")).toThrow(expect.objectContaining({ code: "RATE_LIMITED" }));
  expect(slots.inUse()).toBe(3);
});

test("a released slot is free again; releasing twice gives back one slot only", () => {
  const slots = new UploadSlots(1, 2);
  const a = slots.acquire(A);
  slots.acquire(B);
  expect(() => slots.acquire(A)).toThrow();
  a.release();
  a.release();
  expect(slots.inUse(A)).toBe(0);
  expect(slots.inUse()).toBe(1);
  slots.acquire(A);
  expect(() => slots.acquire(A)).toThrow(expect.objectContaining({ details: expect.objectContaining({ scope: "team" }) }));
  expect(slots.inUse()).toBe(2);
});
