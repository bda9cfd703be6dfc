/** Jest runs the TypeScript sources as native ESM, transformed by SWC. */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: {
    "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" }, module: { type: "es6" } }],
  },
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testMatch: ["<rootDir>/{packages,services,test,deploy,bench}/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/dist/"],
  testTimeout: 30000,
  // Integration suites close every server, client and connection they open, but
  // idle keep-alive sockets of Node's fetch and grpc-js can outlive the suite by
  // seconds; waiting for them would only slow CI down.
  forceExit: true,
};
