// Lint, including the module boundaries of ../shared/docs/style.md (rule 8):
//  - the dashboard (apps/web) talks to the API through GraphQL only: no database, engine or
//    API-internal imports;
//  - only the catalog (apps/api/src/catalog) touches the database (Prisma, pg, PGlite, SQL);
//  - only the engine package (native/src) loads the native binary;
//  - the server never builds the engine's test doubles (the fault hook, the fake engine).
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

const databaseModules = [
  {
    group: ["@prisma/*", "prisma", "pg", "pgvector", "pgvector/*", "@electric-sql/*", "pglite-prisma-adapter"],
    message: "Only the catalog (apps/api/src/catalog) touches the database.",
  },
  { group: ["**/catalog/generated", "**/catalog/generated/*"], message: "Only the catalog uses the generated Prisma client; call a catalog function." },
];
const nativeBinary = [
  {
    group: ["**/*.node", "bindings", "node-gyp-build", "**/build/Release/*", "**/build/Debug/*"],
    message: "Only the engine package (native/src) loads the native binary; import @quiver/engine.",
  },
];
const testDoubles = [
  {
    group: ["**/engine-faults", "**/engine-faults.*", "**/fake-engine", "**/fake-engine.*"],
    message: "Tests only: the server never builds the engine's fault hook or the fake engine.",
  },
];
const apiInternals = [
  {
    group: ["@quiver/api", "@quiver/api/*", "@quiver/engine", "@quiver/engine/*", "**/apps/api/**", "**/native/**"],
    message: "The dashboard talks to the API through GraphQL only.",
  },
];

// The gate (auth/policy.ts, issue "one gate for every team boundary"): only the policy module
// makes a Viewer or TeamScope, and the request path never uses the catalog's system reads.
const forgedScope = {
  selector: "TSAsExpression[typeAnnotation.typeName.name=/^(Viewer|TeamScope)$/]",
  message: "Only auth/policy.ts makes a Viewer or TeamScope: resolve one through the gate (viewerOf, resolveScope, scopeFor).",
};
const systemReads = [
  {
    selector: "CallExpression[callee.property.name='getForSystem']",
    message: "Request paths read adapters through the gate: adapters.get(viewer, id) / getMany(viewer, ids).",
  },
  { selector: "CallExpression[callee.name='offlinePool']", message: "Request paths search the pool of the request's scope, not an offline pool." },
];

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/.next/**",
      "**/dist/**",
      "native/build/**",
      "native/.device-pack*/**",
      "apps/api/src/catalog/generated/**",
      "apps/web/next-env.d.ts",
      ".tmp/**",
      ".quiver/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/ban-ts-comment": ["error", { "ts-ignore": true, "ts-expect-error": "allow-with-description" }],
      "no-restricted-imports": ["error", { patterns: [...databaseModules, ...nativeBinary] }],
    },
  },
  {
    files: ["apps/api/src/**"],
    ignores: ["apps/api/src/auth/policy.ts"],
    rules: { "no-restricted-syntax": ["error", forgedScope] },
  },
  {
    files: ["apps/api/src/graphql/**", "apps/api/src/openai/**", "apps/api/src/pool/upload-route.ts", "apps/api/src/generation/**"],
    rules: { "no-restricted-syntax": ["error", forgedScope, ...systemReads] },
  },
  {
    files: ["apps/api/src/**"],
    rules: { "no-restricted-imports": ["error", { patterns: [...databaseModules, ...nativeBinary, ...testDoubles] }] },
  },
  {
    files: ["apps/api/src/catalog/**"],
    rules: { "no-restricted-imports": ["error", { patterns: [...nativeBinary, ...testDoubles] }] },
  },
  {
    files: ["native/src/**"],
    rules: { "no-restricted-imports": ["error", { patterns: databaseModules }] },
  },
  {
    files: ["apps/web/**"],
    languageOptions: { globals: { ...globals.browser } },
    rules: { "no-restricted-imports": ["error", { patterns: [...databaseModules, ...nativeBinary, ...apiInternals] }] },
  },
  {
    // Tests and scripts may reach into any layer to set up fixtures (a test database, a
    // native build), but the dashboard's own tests stay on GraphQL.
    files: ["test/**", "scripts/**", "**/*.test.ts", "prisma.config.ts"],
    ignores: ["apps/web/**"],
    rules: { "no-restricted-imports": "off" },
  },
);
