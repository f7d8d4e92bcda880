import { allows, authorize, minimumRole, roleIn, type Action } from "./policy.js";
import type { Principal } from "./principal.js";
import type { Role } from "../catalog/identity.js";

const TEAM = "11111111-1111-4111-8111-111111111111";
const OTHER = "22222222-2222-4222-8222-222222222222";
const roles: Role[] = ["VIEWER", "MEMBER", "ADMIN", "OWNER"];
const rank = (r: Role) => roles.indexOf(r);

function user(role: Role): Principal {
  return {
    kind: "user",
    sessionId: "s",
    user: { id: "u", email: "u@x.test", name: null, isAdmin: false, createdAt: new Date(0) },
    memberships: [{ teamId: TEAM, teamName: "T", teamSlug: "t", role }],
  };
}

function key(role: Role): Principal {
  return { kind: "apiKey", keyId: "k", keyName: "k", teamId: TEAM, role, createdById: "u" };
}

describe.each(roles)("role %s", (role) => {
  test.each(Object.keys(minimumRole) as Action[])("%s: allowed exactly at or above the minimum role, own team only", (action) => {
    const expected = rank(role) >= rank(minimumRole[action]);
    for (const p of [user(role), key(role)]) {
      expect(allows(p, action, TEAM)).toBe(expected);
      expect(allows(p, action, OTHER)).toBe(false);
      if (expected) expect(() => authorize(p, action, TEAM)).not.toThrow();
      else expect(() => authorize(p, action, TEAM)).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
      // Another team is "not found", so that denials do not reveal which teams exist.
      expect(() => authorize(p, action, OTHER)).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
    }
  });
});

test("anonymous callers are unauthenticated", () => {
  expect(allows(undefined, "adapter.read", TEAM)).toBe(false);
  expect(() => authorize(undefined, "adapter.read", TEAM)).toThrow(expect.objectContaining({ code: "UNAUTHENTICATED" }));
});

test("an API key acts only in its own team", () => {
  expect(roleIn(key("OWNER"), TEAM)).toBe("OWNER");
  expect(roleIn(key("OWNER"), OTHER)).toBeUndefined();
});
