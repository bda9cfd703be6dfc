import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { registerAndSignIn, rotateAccountKey } from "@seeme/testkit/accounts";
import { startStack, type Stack } from "@seeme/testkit/stack";
import { waitFor } from "@seeme/testkit/wait";

/**
 * The gateway trusts a verified session for SESSION_CACHE_TTL, but deletion and
 * key rotation end it at once: identity's events evict the cached session.
 * The cache here lives 10 s, so a refusal within 2 s can only come from the event.
 */
describe("session revocation at the gateway", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack("revocation", { env: { SESSION_CACHE_TTL: "10s" } });
  });
  afterAll(() => stack.stop());

  const clients = () => {
    const transport = createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" });
    return { identity: createClient(IdentityService, transport), location: createClient(LocationService, transport) };
  };
  const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  const refusedSoon = (call: () => Promise<unknown>) =>
    waitFor(() => call().then(() => false, (error: { code?: Code }) => error.code === Code.Unauthenticated), 2000, 50);

  it("a deleted account's cached session is refused within moments", async () => {
    const { identity, location } = clients();
    const account = await registerAndSignIn(identity);
    await location.sync({}, auth(account.sessionToken));
    await identity.deleteAccount({}, auth(account.sessionToken));
    expect(await refusedSoon(() => location.sync({}, auth(account.sessionToken)))).toBe(true);
  });

  it("a rotated key's old cached session is refused within moments", async () => {
    const { identity, location } = clients();
    const account = await registerAndSignIn(identity);
    await location.sync({}, auth(account.sessionToken));
    await rotateAccountKey(identity, account, undefined, auth(account.sessionToken));
    expect(await refusedSoon(() => location.sync({}, auth(account.sessionToken)))).toBe(true);
  });
});
