import v8 from "node:v8";
import vm from "node:vm";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { registerAndSignIn, type TestAccount } from "@seeme/testkit/accounts";
import { startStack, type Stack } from "../../../test/stack.js";
import { bearerInterceptor, createGatewayTransport } from "../src/api.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/**
 * The SDK's transport (connect-web over fetch) must end a live stream when its
 * signal aborts, also after a garbage collection: Node's fetch loses the abort
 * then, so stop() hung and the server kept the stream until the account ran
 * out of Subscribe slots.
 */
describe("aborting a live Subscribe through the SDK transport", () => {
  let stack: Stack;
  let account: TestAccount;

  beforeAll(async () => {
    stack = await startStack("live_stop", { env: { SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT: "2" } });
    account = await registerAndSignIn(
      createClient(IdentityService, createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" })),
    );
  });

  afterAll(() => stack?.stop());

  /** Opens Subscribe, waits for its first event, collects garbage, aborts; resolves how the loop ended. */
  async function openAndAbort(location: ReturnType<typeof createClient<typeof LocationService>>): Promise<string> {
    const controller = new AbortController();
    let opened!: () => void;
    const first = new Promise<void>((resolve) => (opened = resolve));
    const loop = (async () => {
      try {
        for await (const event of location.subscribe({}, { signal: controller.signal })) if (event.event.case) opened();
        return "ended";
      } catch (error) {
        opened();
        return controller.signal.aborted ? "aborted" : `failed: ${String(error)}`;
      }
    })();
    // Under a loaded CI machine the first event can take seconds; none in 20 s is a failure of its own.
    const openedInTime = await Promise.race([
      first.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 20_000)),
    ]);
    if (!openedInTime) {
      controller.abort();
      return "no first event within 20 s";
    }
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc();
    controller.abort();
    return Promise.race([loop, new Promise<string>((resolve) => setTimeout(() => resolve("hung"), 3000))]);
  }

  it("ends the stream at once, and the server frees its slot, cycle after cycle", async () => {
    const location = createClient(
      LocationService,
      createGatewayTransport(stack.gatewayUrl, { interceptors: [bearerInterceptor(() => account.sessionToken)] }),
    );
    // Twice the account's Subscribe limit: a stream the server kept would make the later ones fail.
    const outcomes: string[] = [];
    for (let cycle = 0; cycle < 4; cycle++) {
      outcomes.push(await openAndAbort(location));
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(outcomes).toEqual(["aborted", "aborted", "aborted", "aborted"]);
  }, 120_000);
});
