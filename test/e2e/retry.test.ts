import { Code, ConnectError } from "@connectrpc/connect";
import { MemoryStorage, SeeMeClient } from "@seeme/client";
import { startStack, type Stack } from "../stack.js";

/**
 * Issue #16, defect 3 (SDK side): a gateway that is down or restarting is a transient failure.
 * Every SDK call that reaches the network retries `Unavailable` and network failures with
 * backoff and jitter, and a failure that outlasts the retries is `Unavailable` with its cause
 * named — never the `Unknown` "fetch failed" Connect makes of an unreachable server.
 */
let stack: Stack;

const device = (retry: { attempts: number; baseDelayMs: number; maxDelayMs?: number }) =>
  new SeeMeClient({ storage: new MemoryStorage(), gatewayUrl: stack.gatewayUrl, retry });

/** Runs `call` while the gateway is down, bringing it back after `downMs`. */
async function acrossRestart<T>(call: () => Promise<T>, downMs = 1_000): Promise<T> {
  await stack.stopService("gateway");
  const result = call();
  // The call must not settle (fail) while the gateway is down.
  let settled = false;
  result.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, downMs));
  expect(settled).toBe(false);
  await stack.startService("gateway");
  return result;
}

beforeAll(async () => {
  stack = await startStack("e2e_retry");
}, 30_000);

afterAll(() => stack?.stop());

test("register, initiate, confirm and break made while the gateway is down complete once it is back", async () => {
  const patient = { attempts: 12, baseDelayMs: 100, maxDelayMs: 1_000 };
  const alice = device(patient);
  const bob = device(patient);
  await acrossRestart(() => alice.register());
  await bob.register();
  const offer = await alice.createOffer("Bob");
  const answer = await bob.answerOffer(offer.qr, "Alice");
  const invite = await acrossRestart(() => alice.initiate(answer.qr, offer.connection));
  const confirmed = await acrossRestart(() => bob.confirm(invite.qr));
  expect(confirmed.status).toBe("active");
  const broken = await acrossRestart(() => bob.breakConnection(answer.connection));
  expect(broken.alreadyEnded).toBeUndefined();
  expect((await bob.connection(answer.connection)).status).toBe("broken");
}, 60_000);

test("a gateway that stays down is Unavailable with the cause named, never Unknown", async () => {
  const impatient = { attempts: 3, baseDelayMs: 20 };
  const carol = device(impatient);
  const dave = device(impatient);
  await carol.register();
  await dave.register();
  const offer = await carol.createOffer("Dave");
  const answer = await dave.answerOffer(offer.qr, "Carol");
  await stack.stopService("gateway");
  try {
    const failures: Array<ConnectError | undefined> = [];
    for (const call of [
      () => device(impatient).register(),
      () => carol.initiate(answer.qr, offer.connection),
      () => carol.sync(),
      () =>
        carol.sendStatus(1).then((report) => {
          // A send is offline first: queued, with why the Sync failed.
          throw new ConnectError(report.syncError?.message ?? "no sync error", report.syncError?.code ?? Code.Unknown);
        }),
    ])
      failures.push(
        await call().then(
          () => undefined,
          (error: unknown) => ConnectError.from(error),
        ),
      );
    for (const failure of failures) {
      expect(failure?.code).toBe(Code.Unavailable);
      expect(failure?.rawMessage).toMatch(/gateway unreachable: .*ECONNREFUSED/);
    }
  } finally {
    await stack.startService("gateway");
  }
});
