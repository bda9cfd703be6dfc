import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { createLogger } from "@seeme/runtime/logger";
import { SessionTokenVerifier } from "@seeme/runtime/session-token";
import { registerAndSignIn, rotateAccountKey, signIn } from "@seeme/testkit/accounts";
import { sessionTokenMinter } from "@seeme/testkit/session-tokens";
import { startTcpProxy, type TcpProxy } from "@seeme/testkit/tcp-proxy";
import { waitFor } from "@seeme/testkit/wait";
import { startStack, type Stack } from "../../../test/stack.js";
import { loadConfig } from "../src/config.js";
import { startGatewayService, type GatewayHandle } from "../src/service.js";
import { SessionVerifier } from "../src/sessions.js";

/**
 * Gateways verify session tokens themselves (no identity call), so revocation
 * rests on identity's events alone: every replica follows the IDENTITY stream
 * and refuses a revoked token. The bound: refused within 1 s on every
 * replica. Two gateway replicas run on one stack here (the stack's own and a
 * second one in this process, which reaches NATS through a proxy the test can cut).
 */
const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const silent = createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent");

interface Replica {
  identity: Client<typeof IdentityService>;
  location: Client<typeof LocationService>;
}

const replica = (baseUrl: string): Replica => {
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1" });
  return { identity: createClient(IdentityService, transport), location: createClient(LocationService, transport) };
};

const isRefused = (call: Promise<unknown>) =>
  call.then(
    () => false,
    (error: { code?: Code }) => error.code === Code.Unauthenticated,
  );

/** Polls every replica until each refuses `token`; returns when the last one did (ms after `since`). */
async function refusedEverywhere(replicas: Replica[], token: string, since: number): Promise<number> {
  const refusedAt = await Promise.all(
    replicas.map(async ({ location }) => {
      const refused = await waitFor(() => isRefused(location.sync({}, auth(token))), 5000, 5);
      return refused ? performance.now() : Number.POSITIVE_INFINITY;
    }),
  );
  return Math.max(...refusedAt) - since;
}

describe("session revocation on every gateway replica", () => {
  let stack: Stack;
  let natsProxy: TcpProxy;
  let second: GatewayHandle | undefined;
  const started: GatewayHandle[] = [];

  const startReplica = async (natsUrl: string) => {
    const handle = await startGatewayService(
      loadConfig({
        INTERNAL_AUTH_SECRET: stack.internalAuthSecret,
        NATS_URL: natsUrl,
        NATS_SUBJECT_PREFIX: stack.natsPrefix,
        GATEWAY_PORT: "0",
        GATEWAY_HOST: "127.0.0.1",
        METRICS_PORT: "0",
        IDENTITY_ADDR: stack.address("identity"),
        CONNECTION_ADDR: stack.address("connection"),
        LOCATION_ADDR: stack.address("location"),
        HEALTH_INTERVAL_MS: "200",
        SHUTDOWN_TIMEOUT_MS: "1000",
      }),
      { log: silent },
    );
    started.push(handle);
    return handle;
  };

  beforeAll(async () => {
    stack = await startStack("revocation");
    const nats = new URL(stack.natsUrl);
    natsProxy = await startTcpProxy(nats.hostname, Number(nats.port));
    second = await startReplica(`nats://127.0.0.1:${natsProxy.port}`);
  });
  afterAll(async () => {
    for (const handle of started) await handle.stop();
    await natsProxy.close();
    await stack.stop();
  });

  const replicas = () => [replica(stack.gatewayUrl), replica(`http://127.0.0.1:${second!.port}`)];

  it("a deleted account's token is refused within 1 s on both replicas", async () => {
    const [a, b] = replicas();
    const account = await registerAndSignIn(a.identity);
    await a.location.sync({}, auth(account.sessionToken));
    await b.location.sync({}, auth(account.sessionToken));
    await a.identity.deleteAccount({}, auth(account.sessionToken));
    const elapsed = await refusedEverywhere([a, b], account.sessionToken, performance.now());
    if (process.env.REPORT_TIMINGS) console.log(`refused on both replicas after ${elapsed.toFixed(1)} ms`);
    expect(elapsed).toBeLessThan(1000);
  });

  it("a rotated key's old tokens are refused within 1 s on both replicas; tokens of the new key work", async () => {
    const [a, b] = replicas();
    const account = await registerAndSignIn(a.identity);
    const other = await signIn(a.identity, account);
    await b.location.sync({}, auth(other));
    const newKey = await rotateAccountKey(a.identity, account, undefined, auth(account.sessionToken));
    const elapsed = await refusedEverywhere([a, b], other, performance.now());
    if (process.env.REPORT_TIMINGS) console.log(`refused on both replicas after ${elapsed.toFixed(1)} ms`);
    expect(elapsed).toBeLessThan(1000);
    const fresh = await signIn(b.identity, { accountId: account.accountId, privateKey: newKey.privateKey });
    await a.location.sync({}, auth(fresh));
    await b.location.sync({}, auth(fresh));
  });

  it("Subscribe streams each replica holds end with Unauthenticated within 1 s of the account's deletion", async () => {
    const [a] = replicas();
    const account = await registerAndSignIn(a.identity);
    // gRPC over HTTP/2: streams the gateways hold themselves (relay.ts), not location.
    const streams = [stack.gatewayUrl, `http://127.0.0.1:${second!.port}`].map((baseUrl) => {
      const location = createClient(LocationService, createGrpcTransport({ baseUrl }));
      const state = { caughtUp: false, endedAt: Number.POSITIVE_INFINITY, code: undefined as Code | undefined };
      const reading = (async () => {
        try {
          for await (const { event } of location.subscribe({}, auth(account.sessionToken)))
            if (event.case === "caughtUp") state.caughtUp = true;
        } catch (error) {
          state.code = ConnectError.from(error).code;
        }
        state.endedAt = performance.now();
      })();
      return { state, reading };
    });
    expect(await waitFor(() => streams.every(({ state }) => state.caughtUp), 10_000)).toBe(true);
    expect(second!.live()?.streams).toBe(1);
    const deletedAt = performance.now();
    await a.identity.deleteAccount({}, auth(account.sessionToken));
    await Promise.all(streams.map(({ reading }) => reading));
    const elapsed = Math.max(...streams.map(({ state }) => state.endedAt)) - deletedAt;
    expect(streams.map(({ state }) => state.code)).toEqual([Code.Unauthenticated, Code.Unauthenticated]);
    expect(elapsed).toBeLessThan(1000);
    expect(second!.live()?.streams).toBe(0);
  });

  it("a replica started after a revocation refuses the token from its first call (it replays the stream)", async () => {
    const [a] = replicas();
    const account = await registerAndSignIn(a.identity);
    await a.identity.deleteAccount({}, auth(account.sessionToken));
    expect(await refusedEverywhere([a], account.sessionToken, performance.now())).toBeLessThan(1000);
    const late = await startReplica(stack.natsUrl);
    expect(
      await isRefused(replica(`http://127.0.0.1:${late.port}`).location.sync({}, auth(account.sessionToken))),
    ).toBe(true);
  });

  it("a replica cut off from NATS applies the revocations it missed once NATS is back", async () => {
    const [a, b] = replicas();
    const account = await registerAndSignIn(a.identity);
    await b.location.sync({}, auth(account.sessionToken));
    natsProxy.cut();
    try {
      await a.identity.deleteAccount({}, auth(account.sessionToken));
      expect(await refusedEverywhere([a], account.sessionToken, performance.now())).toBeLessThan(1000);
      // Cut off, replica b cannot know yet: it still accepts the token (the documented window).
      expect(await isRefused(b.location.sync({}, auth(account.sessionToken)))).toBe(false);
    } finally {
      natsProxy.restore();
    }
    // It reconnects (nats.js retries every 2 s) and its consumer resumes after the last event it saw.
    expect(await waitFor(() => isRefused(b.location.sync({}, auth(account.sessionToken))), 15_000, 50)).toBe(true);
  });
});

describe("SessionVerifier.hold", () => {
  it("aborts at the session's end, and at once when the account is revoked", async () => {
    const secret = "hold-test-secret-".padEnd(40, "x");
    const mint = await sessionTokenMinter(secret);
    const { readSessionVerifyKeys, publicVerifyKey } = await import("@seeme/runtime/session-token");
    const keys = await Promise.all(readSessionVerifyKeys({ INTERNAL_AUTH_SECRET: secret }).map(publicVerifyKey));
    const sessions = new SessionVerifier(new SessionTokenVerifier(keys));
    // Until start-up has replayed the revocations, even a valid token waits (Unavailable, retryable).
    await expect(sessions.verify(await mint("a"))).rejects.toMatchObject({ code: Code.Unavailable });
    sessions.open();

    const ending = sessions.hold(await sessions.verify(await mint("a", { sessionEndsAt: Date.now() + 1000 })));
    expect(ending.signal.aborted).toBe(false);
    expect(await waitFor(() => ending.signal.aborted, 3000, 20)).toBe(true);

    const rotatedAt = Date.now();
    const token = await mint("b", { keyRotatedAt: rotatedAt - 60_000 });
    const revoked = sessions.hold(await sessions.verify(token));
    const untouched = sessions.hold(await sessions.verify(await mint("c")));
    sessions.keyRotated("b", rotatedAt);
    expect(revoked.signal.aborted).toBe(true);
    expect(untouched.signal.aborted).toBe(false);
    await expect(sessions.verify(token)).rejects.toMatchObject({ code: Code.Unauthenticated });
    untouched.release();
  });
});
