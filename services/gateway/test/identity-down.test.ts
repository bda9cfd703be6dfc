import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ChallengePurpose, IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { registerAndSignIn } from "@seeme/testkit/accounts";
import { startStack, type Stack } from "../../../test/stack.js";

/**
 * Identity down must not take authenticated traffic with it (issue 16, item 6):
 * gateways verify session tokens themselves, so Sync keeps working for as long
 * as a token is valid; only what needs identity (sign-in) fails, and then as
 * Unavailable (retry later), never Internal or Unknown.
 */
const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe("identity stopped", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack("identity_down");
  });
  afterAll(() => stack.stop());

  it("authenticated Syncs still succeed through the gateway; sign-in answers Unavailable", async () => {
    const transport = createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" });
    const identity = createClient(IdentityService, transport);
    const location = createClient(LocationService, transport);
    const account = await registerAndSignIn(identity);
    await location.sync({}, auth(account.sessionToken));

    await stack.stopService("identity");
    // Longer than the old 2 s session cache: every Sync here is checked without identity.
    const until = Date.now() + 3000;
    let syncs = 0;
    while (Date.now() < until) {
      await location.sync({}, auth(account.sessionToken));
      syncs += 1;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(syncs).toBeGreaterThan(5);
    // An unknown token is still refused (Unauthenticated, not Unavailable): the gateway decides alone.
    await expect(location.sync({}, auth("x".repeat(40)))).rejects.toMatchObject({ code: Code.Unauthenticated });

    await expect(
      identity.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId }),
    ).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(
      identity.signIn({ accountId: account.accountId, nonce: new Uint8Array(32), signature: new Uint8Array(64) }),
    ).rejects.toMatchObject({ code: Code.Unavailable });
  });
});
