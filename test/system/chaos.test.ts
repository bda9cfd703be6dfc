import { runChaos, verdict, type ChaosReport } from "../../chaos/chaos.js";

/**
 * The short chaos run (`npm run chaos` is the full matrix): the services as child processes on
 * their own nats-server and a cuttable proxy to PostgreSQL, 4 device pairs sending texts, and one
 * fault of each kind — location killed with SIGKILL and restarted, NATS stopped 5 s, PostgreSQL
 * cut 5 s. No acknowledged text may be lost or reach the app twice.
 */
describe("chaos (short)", () => {
  let report: ChaosReport;

  beforeAll(async () => {
    report = await runChaos({
      pairs: 4,
      rate: 4,
      faults: [
        { kind: "kill", service: "location" },
        { kind: "nats", ms: 5_000 },
        { kind: "postgres", ms: 5_000 },
      ],
      settleMs: 2_000,
      drainMs: 30_000,
    });
  }, 150_000);

  it("loses and duplicates no acknowledged text across a kill -9, a NATS stop and a PostgreSQL cut", () => {
    expect(verdict(report)).toEqual([]);
    expect(report.acked).toBeGreaterThan(20);
    expect(report.delivered).toBe(report.acked);
  });

  it("recovers from each fault: a fresh text goes end to end afterwards", () => {
    expect(report.faults.map((fault) => fault.fault)).toEqual([
      "kill -9 location",
      "nats down 5 s",
      "postgres down 5 s",
    ]);
  });

  it("brings every delivery receipt to its sender", () => {
    expect(report.receiptsExpected).toBe(report.delivered);
    expect(report.receiptsReceived).toBe(report.receiptsExpected);
  });
});
