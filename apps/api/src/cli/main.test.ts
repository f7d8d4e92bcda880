import { resolveCommand } from "./main.js";

test("the longest registered name wins", () => {
  expect(resolveCommand(["db", "migrate", "--x"])).toEqual({ name: "db migrate", rest: ["--x"] });
  expect(resolveCommand(["serve"])).toEqual({ name: "serve", rest: [] });
  expect(resolveCommand(["nope"])).toBeUndefined();
});
