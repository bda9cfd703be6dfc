import base from "./jest.config.js";

/** `npm run test:cluster`: the multi-replica system (processes from dist/, a 3-node NATS cluster); not in `npm test`. */
export default {
  ...base,
  testMatch: ["<rootDir>/test/cluster/**/*.cluster.ts"],
  testTimeout: 120_000,
  maxWorkers: 1,
};
