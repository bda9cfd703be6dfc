import { Code, ConnectError } from "@connectrpc/connect";
import { isTransient, withCause, withRetry } from "../src/backoff.js";

/** Network failures are retried and reported with their cause, never as a bare "fetch failed". */

function unreachable(): ConnectError {
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
  const fetchFailed = new TypeError("fetch failed", { cause: refused });
  return new ConnectError(String(fetchFailed), Code.Unknown, undefined, undefined, fetchFailed);
}

test("an unreachable gateway is Unavailable, transient, and names its cause", () => {
  expect(isTransient(unreachable())).toBe(true);
  const described = withCause(unreachable());
  expect(described.code).toBe(Code.Unavailable);
  expect(described.rawMessage).toBe("gateway unreachable: TypeError: fetch failed: connect ECONNREFUSED 127.0.0.1:9");
});

test("other failures keep their code; an Unknown without a network cause is not retried", () => {
  expect(withCause(new ConnectError("bad", Code.InvalidArgument)).code).toBe(Code.InvalidArgument);
  expect(isTransient(new ConnectError("boom", Code.Unknown))).toBe(false);
});

test("withRetry retries a network failure with backoff, then throws it with its cause", async () => {
  let calls = 0;
  const error = await withRetry(
    async () => {
      calls++;
      throw unreachable();
    },
    { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  ).catch((e: unknown) => e as ConnectError);
  expect(calls).toBe(3);
  expect(error).toMatchObject({ code: Code.Unavailable, rawMessage: expect.stringMatching(/ECONNREFUSED/) });
});
