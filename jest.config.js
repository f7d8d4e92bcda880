// One jest run for the whole repository (ESM; TypeScript through SWC, type-checked
// separately by `npm run typecheck`). Unit tests sit beside the code, integration and
// end-to-end tests in test/. Run through scripts/test.mjs, which prints the final
// "N passed, N failed" line CI reads.
const swc = [
  "@swc/jest",
  {
    jsc: { target: "es2022", parser: { syntax: "typescript", tsx: false, decorators: false } },
    module: { type: "es6" },
  },
];

export default {
  testEnvironment: "node",
  // Jest fixes the globals-cleanup mode once per worker process, from the first suite it
  // runs, and ignores later suites' settings. "soft" wraps globals in accessors that make
  // TF.js's async backend init recurse until the stack overflows, so whether a suite
  // broke depended on which suite a worker ran first. One mode for every suite: off.
  testEnvironmentOptions: { globalsCleanup: "off" },
  extensionsToTreatAsEsm: [".ts"],
  transform: { "^.+\\.ts$": swc },
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  roots: ["<rootDir>/apps/api/src", "<rootDir>/native", "<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/native/build/", "/.next/"],
  globalSetup: "<rootDir>/test/global-setup.ts",
  globalTeardown: "<rootDir>/test/global-teardown.ts",
  testTimeout: 60000,
  maxWorkers: 2,
};
