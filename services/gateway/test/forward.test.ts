import { jest } from "@jest/globals";
import { Code, ConnectError, createContextValues, createHandlerContext, type Client } from "@connectrpc/connect";
import { LocationService } from "@seeme/contracts/location";
import {
  CALLER_HEADER,
  callerOf,
  requireCaller,
  requireService,
  SERVICE_HEADER,
  SESSION_HEADER,
  verifiedClientAddress,
} from "@seeme/runtime/caller";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import type { SessionTokenVerifier } from "@seeme/runtime/session-token";
import type { GatewayContext } from "../src/context.js";
import { Credentials, forwardService } from "../src/forward.js";
import { sessionKey } from "../src/gate.js";
import { type Session, SessionVerifier } from "../src/sessions.js";

/**
 * forwardService on its own: a stand-in upstream client records what each forwarded call
 * carried, and handler contexts are made by hand (the session the request gate verified, the
 * client address, the deadline). The whole path over HTTP is in gateway.test.ts.
 */
const secret = "forward-test-secret-".padEnd(40, "x");
const UPSTREAM_TIMEOUT_MS = 10_000;

type Options = { headers: Record<string, string>; timeoutMs?: number; signal: AbortSignal };

function setUp(upstreamBehaviour: { fail?: unknown; streamFail?: unknown; streamWait?: boolean } = {}) {
  const calls: Array<{ method: string; options: Options }> = [];
  let streamStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    streamStarted = resolve;
  });
  const upstream = {
    async sync(_request: unknown, options: Options) {
      calls.push({ method: "sync", options });
      if (upstreamBehaviour.fail) throw upstreamBehaviour.fail;
      return { hasMore: true };
    },
    async *subscribe(_request: unknown, options: Options) {
      calls.push({ method: "subscribe", options });
      yield { event: { case: "packet", value: { pairId: "p", packetId: 1 } } };
      streamStarted();
      if (upstreamBehaviour.streamWait) {
        await new Promise((_resolve, reject) =>
          options.signal.addEventListener("abort", () => reject(new ConnectError("aborted", Code.Canceled)), {
            once: true,
          }),
        );
      }
      if (upstreamBehaviour.streamFail) throw upstreamBehaviour.streamFail;
    },
  } as unknown as Client<typeof LocationService>;
  const sessions = new SessionVerifier({} as SessionTokenVerifier);
  const context = {
    config: { internalAuthSecret: secret, upstreamTimeoutMs: UPSTREAM_TIMEOUT_MS },
    sessions,
  } as unknown as GatewayContext;
  return { calls, upstream, context, sessions, started };
}

function handlerContext(
  methodName: "Sync" | "Subscribe",
  init: { session?: Session; address?: string; timeoutMs?: number; signal?: AbortSignal } = {},
) {
  const values = createContextValues();
  // Aborted after each test: a context with a deadline holds a timer until then.
  if (init.session) values.set(sessionKey, init.session);
  const ctx = createHandlerContext({
    service: LocationService,
    method: LocationService.methods.find((m) => m.name === methodName)!,
    protocolName: "connect",
    requestMethod: "POST",
    url: `http://gateway/seeme.location.v1.LocationService/${methodName}`,
    timeoutMs: init.timeoutMs,
    requestSignal: init.signal,
    requestHeader: init.address ? { [CLIENT_ADDRESS_HEADER]: init.address } : {},
    contextValues: values,
  });
  contexts.push(ctx);
  return ctx;
}

const contexts: Array<{ abort(reason?: unknown): void }> = [];
afterEach(() => {
  for (const ctx of contexts.splice(0)) ctx.abort();
});

const session = (accountId: string, expiresAt = Date.now() + 3_600_000): Session => ({
  accountId,
  sessionId: `session-of-${accountId}`,
  expiresAt,
  keyRotatedAt: 0,
});

type Impl = {
  sync(request: unknown, ctx: unknown): Promise<unknown>;
  subscribe(request: unknown, ctx: unknown): AsyncIterable<unknown>;
};

describe("forwardService", () => {
  it("refuses a call without a session where one is required, before asking upstream", async () => {
    const { upstream, context, calls } = setUp();
    const impl = forwardService(LocationService, upstream, context, "required") as unknown as Impl;
    await expect(impl.sync({}, handlerContext("Sync"))).rejects.toMatchObject({
      code: Code.Unauthenticated,
      rawMessage: "authentication required",
    });
    expect(calls).toEqual([]);
  });

  it("vouches for the verified caller and client address, and reuses a caller's signed credential", async () => {
    const { upstream, context, calls } = setUp();
    const impl = forwardService(LocationService, upstream, context, "required", true) as unknown as Impl;
    const alice = session("alice");
    await impl.sync({}, handlerContext("Sync", { session: alice, address: "192.0.2.7" }));
    await impl.sync({}, handlerContext("Sync", { session: alice }));
    await impl.sync({}, handlerContext("Sync", { session: session("bob"), address: "192.0.2.7" }));
    const [first, second, third] = calls.map((c) => c.options.headers);
    expect(verifiedClientAddress(secret, first![CLIENT_ADDRESS_HEADER]!)).toBe("192.0.2.7");
    expect(second![CLIENT_ADDRESS_HEADER]).toBeUndefined();
    // Signed once and reused within its few seconds: the same value for the same account.
    expect(second![CALLER_HEADER]).toBe(first![CALLER_HEADER]);
    expect(third![CALLER_HEADER]).not.toBe(first![CALLER_HEADER]);
    expect(third![CLIENT_ADDRESS_HEADER]).toBe(first![CLIENT_ADDRESS_HEADER]);
    expect(first![SESSION_HEADER]).toEqual(expect.any(String));
  });

  it("gives the upstream call the client's deadline, capped at the gateway's own", async () => {
    const { upstream, context, calls } = setUp();
    const impl = forwardService(LocationService, upstream, context, "required") as unknown as Impl;
    await impl.sync({}, handlerContext("Sync", { session: session("alice"), timeoutMs: 2500 }));
    await impl.sync({}, handlerContext("Sync", { session: session("alice"), timeoutMs: 60_000 }));
    await impl.sync({}, handlerContext("Sync", { session: session("alice") }));
    // The client's deadline is what is left of it when the call is forwarded (a few ms may have passed).
    const [short, long, none] = calls.map((c) => c.options.timeoutMs!);
    expect(short).toBeLessThanOrEqual(2500);
    expect(short).toBeGreaterThan(1500);
    expect([long, none]).toEqual([UPSTREAM_TIMEOUT_MS, UPSTREAM_TIMEOUT_MS]);
    // Without withSession, no session header.
    expect(calls[0]!.options.headers[SESSION_HEADER]).toBeUndefined();
  });

  it("answers an upstream transport failure with a fixed sentence, not the internal hop's detail", async () => {
    const { upstream, context } = setUp({
      fail: new ConnectError("connect ECONNREFUSED 10.0.0.5:50051", Code.Unavailable),
    });
    const impl = forwardService(LocationService, upstream, context, "required") as unknown as Impl;
    await expect(impl.sync({}, handlerContext("Sync", { session: session("alice") }))).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "service temporarily unavailable; retry later",
    });
  });

  it("does the same for a stream opened without a session", async () => {
    const { upstream, context } = setUp({
      streamFail: new ConnectError("connect ECONNREFUSED 10.0.0.5:50051", Code.Unavailable),
    });
    const impl = forwardService(LocationService, upstream, context, "optional") as unknown as Impl;
    const received: unknown[] = [];
    await expect(
      (async () => {
        for await (const event of impl.subscribe({}, handlerContext("Subscribe"))) received.push(event);
      })(),
    ).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "service temporarily unavailable; retry later" });
    expect(received).toHaveLength(1);
  });

  it("ends a stream with Unauthenticated when its session is revoked, and passes upstream errors of a live one on", async () => {
    const { upstream, context, sessions, started } = setUp({ streamWait: true });
    const impl = forwardService(LocationService, upstream, context, "required") as unknown as Impl;
    const stream = (async () => {
      for await (const _event of impl.subscribe({}, handlerContext("Subscribe", { session: session("alice") }))) {
        // Events pass through.
      }
    })();
    await started;
    sessions.accountDeleted("alice", Date.now());
    await expect(stream).rejects.toMatchObject({
      code: Code.Unauthenticated,
      rawMessage: "session ended (expired, signed out by a key rotation, or account deleted); sign in again",
    });

    const failing = setUp({ streamFail: new ConnectError("boom at 10.0.0.5", Code.Internal) });
    const failingImpl = forwardService(
      LocationService,
      failing.upstream,
      failing.context,
      "required",
    ) as unknown as Impl;
    await expect(
      (async () => {
        for await (const _event of failingImpl.subscribe(
          {},
          handlerContext("Subscribe", { session: session("bob") }),
        )) {
          // Events pass through.
        }
      })(),
    ).rejects.toMatchObject({ code: Code.Internal, rawMessage: "internal error" });
  });

  it("a stream the client cancels ends quietly, not as a session end", async () => {
    const { upstream, context, started } = setUp({ streamWait: true });
    const impl = forwardService(LocationService, upstream, context, "required") as unknown as Impl;
    const client = new AbortController();
    const stream = (async () => {
      for await (const _event of impl.subscribe(
        {},
        handlerContext("Subscribe", { session: session("alice"), signal: client.signal }),
      )) {
        // Events pass through.
      }
    })();
    await started;
    client.abort();
    await expect(stream).rejects.toMatchObject({ code: Code.Canceled });
  });

  it("signs the gateway's and the caller's credentials once per five seconds, each valid for the upstream", async () => {
    jest.useFakeTimers({ now: 1_800_000_000_000, doNotFake: ["nextTick", "setImmediate", "queueMicrotask"] });
    try {
      const { upstream, context, calls } = setUp();
      const impl = forwardService(LocationService, upstream, context, "required") as unknown as Impl;
      const call = async () => {
        await impl.sync({}, handlerContext("Sync", { session: session("alice") }));
        return calls.at(-1)!.options.headers;
      };
      const first = await call();
      // What the upstream's guards accept: a gateway service credential and alice as the caller.
      const upstreamCtx = handlerContext("Sync");
      upstreamCtx.requestHeader.set(SERVICE_HEADER, first[SERVICE_HEADER]!);
      upstreamCtx.requestHeader.set(CALLER_HEADER, first[CALLER_HEADER]!);
      requireService(secret)(upstreamCtx);
      requireCaller(secret)(upstreamCtx);
      expect(callerOf(upstreamCtx)).toBe("alice");
      jest.setSystemTime(1_800_000_000_000 + 4999);
      const reused = await call();
      expect([reused[SERVICE_HEADER], reused[CALLER_HEADER]]).toEqual([first[SERVICE_HEADER], first[CALLER_HEADER]]);
      jest.setSystemTime(1_800_000_000_000 + 5000);
      const renewed = await call();
      expect(renewed[SERVICE_HEADER]).not.toBe(first[SERVICE_HEADER]);
      expect(renewed[CALLER_HEADER]).not.toBe(first[CALLER_HEADER]);
    } finally {
      jest.useRealTimers();
    }
  });

  it("a stream that ends upstream ends quietly for its client, and lets go of its session", async () => {
    const { upstream, context, sessions, calls } = setUp();
    const impl = forwardService(LocationService, upstream, context, "required") as unknown as Impl;
    const received: unknown[] = [];
    for await (const event of impl.subscribe({}, handlerContext("Subscribe", { session: session("alice") })))
      received.push(event);
    expect(received).toHaveLength(1);
    expect((sessions as unknown as { holds: Map<string, unknown> }).holds.size).toBe(0);
    // A stream vouches for its caller, and for nothing it does not need (no session header).
    const upstreamCtx = handlerContext("Subscribe");
    upstreamCtx.requestHeader.set(CALLER_HEADER, calls[0]!.options.headers[CALLER_HEADER]!);
    requireCaller(secret)(upstreamCtx);
    expect(callerOf(upstreamCtx)).toBe("alice");
    expect(calls[0]!.options.headers[SESSION_HEADER]).toBeUndefined();
  });
});

describe("Credentials", () => {
  const sizes = (credentials: Credentials) => {
    const maps = credentials as unknown as { callers: Map<string, unknown>; addresses: Map<string, unknown> };
    return { callers: maps.callers.size, addresses: maps.addresses.size };
  };

  it("keeps up to 50,000 recent callers and addresses; past that, the expired ones go", () => {
    const credentials = new Credentials(secret);
    const add = (i: number, now: number) => {
      credentials.forCaller(`account-${i}`, now);
      credentials.forAddress(`10.0.${i >> 8}.${i & 255}`, now);
    };
    // Signed at 0, each is reused until 5,000 ms and expired from then on.
    for (let i = 0; i < 49_999; i++) add(i, 0);
    // The 50,000th, at 5,000 ms: not over the bound, so nothing is swept (a sweep reads them all).
    add(49_999, 5_000);
    expect(sizes(credentials)).toEqual({ callers: 50_000, addresses: 50_000 });
    // One more is over it: the 49,999 expired ones go, the two still valid stay.
    add(50_000, 5_000);
    expect(sizes(credentials)).toEqual({ callers: 2, addresses: 2 });
  });
});
