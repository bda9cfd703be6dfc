// @ts-check
/**
 * Mutation testing (issue #19) of the code that guards people's safety and privacy.
 * `npm run mutate` runs every module below; `MUTATE_SCOPE=client npm run mutate` (or a
 * comma-separated list) one or some. The whole scope's incremental record,
 * reports/stryker-incremental-all.json, is committed, so a re-run only tests mutants in code
 * changed since, or covered by tests added or changed since (a scope's own run keeps its own).
 *
 * Only the test files that exercise a scope run, and only suites that import the code
 * under test relatively: Stryker mutates a copy of the tree (the sandbox) while
 * node_modules, and so the `@seeme/*` workspace links, still point at the original,
 * so suites built on test/stack.ts (every service through @seeme/*) would test unmutated
 * code. Those are the gateway/stack suites listed under `skipped` below.
 */

/** @type {Record<string, { mutate: string[]; tests: string[]; skipped?: string[] }>} */
const SCOPES = {
  client: {
    mutate: [
      "packages/client/src/envelope.ts",
      "packages/client/src/receive.ts",
      "packages/client/src/replay-guard.ts",
      "packages/client/src/codec-*.ts",
    ],
    tests: ["packages/client/test/**/*.test.ts"],
    // Builds a stack through @seeme/* (see above).
    skipped: ["packages/client/test/push-handler.test.ts"],
  },
  location: {
    mutate: [
      "services/location/src/db/**/*.ts",
      "!services/location/src/db/generated/**",
      "services/location/src/access.ts",
      "services/location/src/rpc/sync.ts",
      "services/location/src/rpc/sync/**/*.ts",
    ],
    tests: ["services/location/test/**/*.test.ts"],
    // nats-restart.test.ts (its own NATS, restarted) covers no statement the others miss and takes a minute.
    skipped: [
      "services/location/test/break.test.ts",
      "services/location/test/gateway.test.ts",
      "services/location/test/push.test.ts",
      "services/location/test/nats-restart.test.ts",
    ],
  },
  connection: {
    mutate: ["services/connection/src/rpc/**/*.ts"],
    tests: ["services/connection/test/**/*.test.ts"],
    skipped: ["services/connection/test/gateway.test.ts", "services/connection/test/invite-key.test.ts"],
  },
  identity: {
    mutate: ["services/identity/src/rpc/**/*.ts", "services/identity/src/challenges.ts"],
    tests: ["services/identity/test/**/*.test.ts"],
    skipped: ["services/identity/test/gateway.test.ts"],
  },
  gateway: {
    mutate: ["services/gateway/src/sessions.ts", "services/gateway/src/forward.ts"],
    // revocation.test.ts runs its second gateway replica in-process from ../src (mutated), next
    // to the stack's own (unmutated): its "on both replicas" checks see the mutant.
    tests: ["services/gateway/test/**/*.test.ts"],
  },
};

const requested = (process.env.MUTATE_SCOPE ?? Object.keys(SCOPES).join(","))
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
for (const name of requested) {
  if (!(name in SCOPES))
    throw new Error(`MUTATE_SCOPE: unknown scope "${name}"; known: ${Object.keys(SCOPES).join(", ")}`);
}
const scopes = requested.map((name) => SCOPES[name]);
// MUTATE_TESTS=<glob,glob>: run only these test files (a quick, partial measurement: a mutant
// they miss may still be killed by a suite left out, so the score is a lower bound).
const onlyTests = (process.env.MUTATE_TESTS ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const label =
  process.env.MUTATE_LABEL ?? (requested.length === Object.keys(SCOPES).length ? "all" : requested.join("+"));

export default {
  packageManager: "npm",
  plugins: ["@stryker-mutator/jest-runner", "@stryker-mutator/typescript-checker"],
  testRunner: "jest",
  // Jest runs the TypeScript sources as native ESM.
  testRunnerNodeArgs: ["--experimental-vm-modules"],
  jest: {
    projectType: "custom",
    configFile: "jest.config.js",
    config: {
      // Instrumented code is slower (envelope's bit-flip test, thousands of HPKE opens, passes
      // jest's 30 s only on a quiet machine); Stryker's own timeout below catches hung mutants.
      testTimeout: 180000,
      testMatch: (onlyTests.length > 0 ? onlyTests : scopes.flatMap((scope) => scope.tests)).map(
        (glob) => `<rootDir>/${glob}`,
      ),
      testPathIgnorePatterns: ["/node_modules/", "/dist/", ...scopes.flatMap((scope) => scope.skipped ?? [])],
    },
    enableFindRelatedTests: false,
  },
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.json",
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: scopes.flatMap((scope) => scope.mutate),
  coverageAnalysis: "perTest",
  // Static mutants (module-level constants: HPKE info strings, lengths, limits) rerun every
  // test that loads the module, over half the run time; they are reported as ignored, not scored.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: `reports/stryker-incremental-${label}.json`,
  // Two cores shared with other work; the suites use real PostgreSQL and NATS.
  concurrency: 2,
  // A mutant's run may last its tests' dry-run time × 3 + 60 s before it is called a Timeout
  // (which Stryker counts as killed): on two busy cores a slower run is not a detection.
  timeoutMS: 60000,
  timeoutFactor: 3,
  reporters: ["clear-text", "progress-append-only", "json", "html"],
  jsonReporter: { fileName: `reports/mutation/${label}.json` },
  htmlReporter: { fileName: `reports/mutation/${label}.html` },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: ".stryker-tmp",
  ignorePatterns: ["reports", ".tmp", "bench/results", "coverage", "deploy/**/node_modules"],
};
