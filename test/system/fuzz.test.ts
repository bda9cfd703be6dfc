import { startStack, type Stack } from "../stack.js";
import { fuzzStack, type FuzzRun } from "../../fuzz/run.js";

/**
 * The short fuzz run (`npm run fuzz` does 100,000): 2,000 random, mutated,
 * mistyped and oversized requests over every public RPC and protocol against
 * the real stack. None may be answered as a server fault (Internal, Unknown,
 * a bare 5xx) or dropped, and every service must still be SERVING after.
 */
describe("fuzz (short)", () => {
  let stack: Stack;
  let run: FuzzRun;

  beforeAll(async () => {
    stack = await startStack("fuzz_short");
    run = await fuzzStack(stack, { requests: 2_000, seed: Number(process.env.FUZZ_SEED ?? 20261201) });
  }, 120_000);

  afterAll(() => stack?.stop());

  it("answers every request with a code that blames the right side", () => {
    expect(run.report.examples.filter((example) => example.code !== "OPEN")).toEqual([]);
    expect(run.report.failures).toBe(0);
    // Calls on a kept-alive HTTP/1.1 connection after a refused body the gateway had read only in
    // part went unanswered (27 in 100k); such answers now close the connection (listener.ts).
    expect(run.report.unanswered).toBe(0);
    for (const code of ["Internal", "Unknown", "DataLoss", "TransportError"])
      expect(run.report.byCode[code] ?? 0).toBe(0);
  });

  it("exercised the refusals it is meant to", () => {
    expect(run.report.requests).toBe(2_000);
    expect(run.report.byCode.InvalidArgument).toBeGreaterThan(100);
    expect(run.report.byCode.Unauthenticated).toBeGreaterThan(100);
    expect(run.report.byCode.OK).toBeGreaterThan(10);
  });

  it("leaves every service SERVING", () => {
    expect(run.serving).toEqual(["SERVING", "SERVING", "SERVING", "SERVING"]);
  });
});
