import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { registerAndSignIn, rotateAccountKey } from "@seeme/testkit/accounts";
import { startStack, type Stack } from "../../../test/stack.js";
import { waitFor } from "@seeme/testkit/wait";
import { SessionVerifier } from "../src/sessions.js";

/**
 * The gateway trusts a verified session for SESSION_CACHE_TTL, but deletion and
 * key rotation end it at once: identity's events evict the cached session.
 * The cache here lives 10 s, so a refusal within 2 s can only come from the event.
 */
const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

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
  const refusedSoon = (call: () => Promise<unknown>) =>
    waitFor(
      () =>
        call().then(
          () => false,
          (error: { code?: Code }) => error.code === Code.Unauthenticated,
        ),
      2000,
      50,
    );

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

describe("streams end with their session", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack("revocation_stream", { env: { SESSION_CACHE_TTL: "10s" } });
  });
  afterAll(() => stack.stop());

  it("an open Subscribe ends with Unauthenticated when the account is deleted", async () => {
    const transport = createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" });
    const identity = createClient(IdentityService, transport);
    const location = createClient(LocationService, transport);
    const account = await registerAndSignIn(identity);
    const events: string[] = [];
    const reading = (async () => {
      for await (const { event } of location.subscribe({}, auth(account.sessionToken))) events.push(event.case ?? "");
    })();
    expect(await waitFor(() => events.includes("caughtUp"), 5000)).toBe(true);
    await identity.deleteAccount({}, auth(account.sessionToken));
    await expect(reading).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});

describe("SessionVerifier.hold", () => {
  it("aborts at the session's expiry", async () => {
    const identity = {
      verifySession: async () => ({
        accountId: "a",
        expireTime: { seconds: BigInt(Math.ceil((Date.now() + 1000) / 1000)), nanos: 0 },
      }),
    } as unknown as ConstructorParameters<typeof SessionVerifier>[0];
    const sessions = new SessionVerifier(identity, 2000);
    const hold = sessions.hold(await sessions.verify("token-0123456789abcdef"));
    expect(hold.signal.aborted).toBe(false);
    expect(await waitFor(() => hold.signal.aborted, 3000, 20)).toBe(true);
  });
});
