import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { InboxUpdatedSchema, LocationService, SubscribeResponseSchema } from "@seeme/contracts/location";
import { inboxUpdated } from "@seeme/contracts/subjects";
import { callerOf, requireCaller } from "@seeme/runtime/caller";
import { BACKLOG_ONLY_HEADER } from "@seeme/runtime/live-stream";
import { registration } from "@seeme/runtime/grpc";
import { createLogger } from "@seeme/runtime/logger";
import { connectEventBus, type EventBus } from "@seeme/runtime/nats";
import { sessionTokenMinter } from "@seeme/testkit/session-tokens";
import { startFakeService, type FakeService } from "@seeme/testkit/fake-service";
import { startTcpProxy } from "@seeme/testkit/tcp-proxy";
import { waitFor } from "@seeme/testkit/wait";
import { loadConfig } from "../src/config.js";
import { startGatewayService, type GatewayHandle } from "../src/service.js";

const secret = "relay-test-secret-".padEnd(40, "x");
const silent = createLogger("test", "silent");

/**
 * The raw path (relay.ts): gRPC Syncs go to location as raw HTTP/2 streams;
 * Subscribes over HTTP/2 (gRPC, binary Connect) are held by the gateway, pushed
 * from NATS hints, with location read only up to `caught_up`. Real servers on
 * real ports and the machine's NATS: a grpc-js location (the real server stack,
 * which checks the signed caller), a bare node:http2 upstream that misbehaves
 * on purpose, and a port nobody listens on.
 */
describe("gateway raw path (gRPC Sync; Subscribe held by the gateway)", () => {
  let upstream: FakeService;
  let raw: http2.Http2Server;
  let rawPort: number;
  let deadPort: number;
  let gateway: GatewayHandle;
  let rawGateway: GatewayHandle;
  let deadGateway: GatewayHandle;
  let mint: Awaited<ReturnType<typeof sessionTokenMinter>>;
  // What the grpc-js location saw: the caller of each call, and calls whose signal aborted.
  const callers: string[] = [];
  const aborted: string[] = [];
  // How location's Subscribe answers the gateway's backlog read.
  let subscribeMode: "backlog" | "fail" | "internal" | "end-early" = "backlog";
  // The packet ids location holds for every account (pair "queued").
  const queued = [1];
  // How each account's backlog-only reads ended at location: "ended" after caught_up, or
  // "cancelled" by the gateway (recorded 100 ms late, so kept per account: tests do not share them).
  const backlogReads = new Map<string, string[]>();
  const readsOf = (account: string) => backlogReads.get(account) ?? [];
  const callsOf = (account: string) => callers.filter((caller) => caller === account).length;
  let bus: EventBus;
  const prefix = `t_relay_${process.pid}`;
  // What the bare upstream saw, and how it answers.
  const rawHeaders: http2.IncomingHttpHeaders[] = [];
  let rawMode: "ok" | "reset" | "http503" | "no-trailers" | "hang" = "ok";

  const waitAborted = (ctx: HandlerContext, name: string) =>
    new Promise<void>((resolve) => {
      const done = () => {
        aborted.push(name);
        resolve();
      };
      if (ctx.signal.aborted) done();
      else ctx.signal.addEventListener("abort", done, { once: true });
    });

  const config = (address: string, extra: Record<string, string> = {}) =>
    loadConfig({
      INTERNAL_AUTH_SECRET: secret,
      NATS_SUBJECT_PREFIX: prefix,
      GATEWAY_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      METRICS_PORT: "0",
      IDENTITY_ADDR: address,
      CONNECTION_ADDR: address,
      LOCATION_ADDR: address,
      HEALTH_INTERVAL_MS: "100",
      MAX_PACKETS_PER_SYNC: "1",
      MAX_BLOB_BYTES: "64",
      SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT: "2",
      ...extra,
    });

  beforeAll(async () => {
    mint = await sessionTokenMinter(secret);
    bus = await connectEventBus({ url: "nats://127.0.0.1:4222", prefix, name: "relay-test", log: silent });
    upstream = await startFakeService("location", [
      registration(
        LocationService,
        {
          sync: async (request, ctx) => {
            callers.push(callerOf(ctx));
            // page_size 7: hold the call until it is cancelled (deadline tests).
            if (request.pageSize === 7) await waitAborted(ctx, "sync");
            return { hasMore: request.pageSize === 3 };
          },
          async *subscribe(_request, ctx) {
            callers.push(callerOf(ctx));
            if (subscribeMode === "fail") throw new ConnectError("pair gone", Code.FailedPrecondition);
            if (subscribeMode === "internal") throw new ConnectError("db exploded at 10.0.0.7", Code.Internal);
            for (const packetId of queued)
              yield { event: { case: "packet", value: { pairId: "queued", packetId, blob: new Uint8Array([1]) } } };
            if (subscribeMode === "end-early") return;
            yield { event: { case: "caughtUp", value: true } };
            if (ctx.requestHeader.get(BACKLOG_ONLY_HEADER) === null) return await waitAborted(ctx, "subscribe");
            // Like location, a backlog-only read ends after caught_up: a moment later here, so that
            // a gateway cancelling the call instead (a RST_STREAM) would be seen.
            await new Promise((resolve) => setTimeout(resolve, 100));
            const account = callerOf(ctx);
            backlogReads.set(account, [...readsOf(account), ctx.signal.aborted ? "cancelled" : "ended"]);
          },
        },
        requireCaller(secret),
      ),
    ]);
    raw = http2.createServer();
    raw.on("stream", (stream, headers) => {
      // The gateway's health probes reach it too; only location's calls are recorded.
      if (String(headers[":path"]).startsWith("/seeme.location")) rawHeaders.push(headers);
      stream.on("error", () => undefined);
      if (rawMode === "reset") return stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      if (rawMode === "http503") return stream.respond({ ":status": 503 }, { endStream: true });
      // Never answers: only the gateway's own deadline ends the call.
      if (rawMode === "hang") return;
      stream.resume();
      stream.once("end", () => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: rawMode === "ok" });
        stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        // An empty SyncResponse: a 5-byte prefix, no fields.
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    rawPort = (raw.address() as net.AddressInfo).port;
    // A port that was free a moment ago: nothing listens there.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    deadPort = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    gateway = await startGatewayService(config(upstream.address), { log: silent });
    // Its unary deadline is short, so an upstream that never answers is cut by the gateway's own timer.
    rawGateway = await startGatewayService(config(`127.0.0.1:${rawPort}`, { UPSTREAM_TIMEOUT: "1s" }), {
      log: silent,
    });
    deadGateway = await startGatewayService(config(`127.0.0.1:${deadPort}`), { log: silent });
  });

  afterAll(async () => {
    await Promise.all([gateway?.stop(), rawGateway?.stop(), deadGateway?.stop()]);
    await upstream?.stop();
    raw?.close();
    await bus?.drain();
  });

  // What a browser adds to every cross-origin call.
  const withOrigin: Interceptor = (next) => (request) => {
    request.header.set("origin", "https://app.example");
    return next(request);
  };
  const grpcClient = (handle: GatewayHandle) =>
    createClient(LocationService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${handle.port}` }));
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => ConnectError.from(error),
    );

  it("passes the verified account as signed caller metadata, and none of the client's headers", async () => {
    rawMode = "ok";
    rawHeaders.length = 0;
    const token = await mint("account-raw");
    await grpcClient(rawGateway).sync(
      {},
      { headers: { ...bearer(token), "x-seeme-caller": "forged", "x-custom": "1" }, timeoutMs: 5000 },
    );
    expect(rawHeaders).toHaveLength(1);
    const seen = rawHeaders[0];
    expect(seen[":path"]).toBe("/seeme.location.v1.LocationService/Sync");
    expect(String(seen["x-seeme-caller"])).toMatch(/^account-raw\.\d+\./);
    expect(seen["x-seeme-service"]).toMatch(/^gateway\./);
    expect(String(seen["x-seeme-client-address"]).split(".")[0]).toBe(Buffer.from("127.0.0.1").toString("base64url"));
    expect(seen.authorization).toBeUndefined();
    expect(seen["x-custom"]).toBeUndefined();
    // Relayed, not re-issued by grpc-js (which names itself in user-agent).
    expect(seen["user-agent"]).toBeUndefined();
    // The client's deadline, as a deadline for location.
    expect(seen["grpc-timeout"]).toMatch(/^\d+m$/);

    // The real grpc-js location accepts the signature and sees the account.
    callers.length = 0;
    const answer = await grpcClient(gateway).sync({ pageSize: 3 }, { headers: bearer(await mint("account-1")) });
    expect(answer.hasMore).toBe(true);
    expect(callers).toEqual(["account-1"]);
  });

  it("refuses a missing, malformed, expired or revoked token before anything reaches location", async () => {
    callers.length = 0;
    const client = grpcClient(gateway);
    const expired = await mint("account-2", { issuedAt: Date.now() - 120_000, expiresAt: Date.now() - 60_000 });
    const revokedToken = await mint("account-3");
    gateway.context.sessions.accountDeleted("account-3", Date.now());
    for (const headers of [{}, { authorization: "Bearer !" }, bearer(expired), bearer(revokedToken)]) {
      const error = await failure(client.sync({}, { headers }));
      expect(error?.code).toBe(Code.Unauthenticated);
      const stream = await failure(
        (async () => {
          for await (const _ of client.subscribe({}, { headers })) break;
        })(),
      );
      expect(stream?.code).toBe(Code.Unauthenticated);
    }
    expect(callers).toEqual([]);
  });

  /** A Subscribe in the background: the events it received, and how it ended. */
  function openSubscribe(client: ReturnType<typeof grpcClient>, token: string, signal?: AbortSignal) {
    const events: string[] = [];
    const ended = failure(
      (async () => {
        for await (const { event } of client.subscribe({}, { headers: bearer(token), signal }))
          events.push(
            event.case === "packet" ? `packet ${event.value.pairId}/${event.value.packetId}` : `${event.case}`,
          );
      })(),
    );
    return { events, ended };
  }

  /** What location's notify.ts publishes after a commit: the packets, for one account. */
  const hint = (accountId: string, pairId: string, packetId: number, seq: bigint) =>
    bus.publishCore(inboxUpdated.forAccount(accountId), InboxUpdatedSchema, {
      accountId,
      packets: [{ pairId, packetId, blob: new Uint8Array([7]) }],
      publisher: "relay-test",
      seq,
    });

  it("holds Subscribe itself: location is read up to caught_up, live packets come from NATS hints", async () => {
    subscribeMode = "backlog";
    callers.length = 0;
    const token = await mint("account-4");
    const stream = openSubscribe(grpcClient(gateway), token);
    expect(await waitFor(() => stream.events.length === 2, 10_000)).toBe(true);
    expect(stream.events).toEqual(["packet queued/1", "caughtUp"]);
    // Location's side ends once the backlog is read, read to its end, not cancelled (a cancel is a
    // RST_STREAM: thousands of them make location's HTTP/2 server close the connection); the
    // client's stream stays open at the gateway.
    expect(await waitFor(() => readsOf("account-4").length === 1, 10_000)).toBe(true);
    expect(readsOf("account-4")).toEqual(["ended"]);
    expect(callers).toEqual(["account-4"]);
    expect(gateway.live()?.streams).toBe(1);
    // Another account's hint is not this stream's; a repeat of a packet already sent is dropped.
    hint("account-other", "p-other", 1, 1n);
    hint("account-4", "queued", 1, 2n);
    hint("account-4", "p", 5, 3n);
    expect(await waitFor(() => stream.events.length === 3, 10_000)).toBe(true);
    expect(stream.events).toEqual(["packet queued/1", "caughtUp", "packet p/5"]);
    // The session ends (a key rotation): the stream ends with it.
    gateway.context.sessions.keyRotated("account-4", Date.now() + 1);
    const ended = await stream.ended;
    expect(ended?.code).toBe(Code.Unauthenticated);
    expect(ended?.rawMessage).toMatch(/session ended/);
    expect(await waitFor(() => gateway.live()?.streams === 0, 10_000)).toBe(true);
    // Location was asked once, for the backlog, and never held the stream.
    expect(callers).toEqual(["account-4"]);
  });

  it("lets go of a stream the client cancels, and caps the streams one account holds", async () => {
    subscribeMode = "backlog";
    const token = await mint("account-5");
    const controller = new AbortController();
    const first = openSubscribe(grpcClient(gateway), token, controller.signal);
    const second = openSubscribe(grpcClient(gateway), token);
    expect(await waitFor(() => first.events.length === 2 && second.events.length === 2, 10_000)).toBe(true);
    // SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT is 2 here.
    const third = openSubscribe(grpcClient(gateway), token);
    const refused = await third.ended;
    expect(refused?.code).toBe(Code.ResourceExhausted);
    expect(refused?.rawMessage).toBe("this account already has 2 open Subscribe streams; close one first");
    expect(third.events).toEqual([]);
    controller.abort();
    expect((await first.ended)?.code).toBe(Code.Canceled);
    expect(await waitFor(() => gateway.live()?.streams === 1, 10_000)).toBe(true);
    // The freed slot can be taken again.
    const fourth = openSubscribe(grpcClient(gateway), token);
    expect(await waitFor(() => fourth.events.length === 2, 10_000)).toBe(true);
    gateway.context.sessions.keyRotated("account-5", Date.now() + 1);
    expect((await second.ended)?.code).toBe(Code.Unauthenticated);
    expect((await fourth.ended)?.code).toBe(Code.Unauthenticated);
  });

  it("ends the stream with location's error when the backlog read fails, made public", async () => {
    const token = await mint("account-5b");
    subscribeMode = "fail";
    const failed = openSubscribe(grpcClient(gateway), token);
    const error = await failed.ended;
    expect(failed.events).toEqual([]);
    expect(error?.code).toBe(Code.FailedPrecondition);
    expect(error?.rawMessage).toBe("pair gone");

    // Internal errors are made public: the code stays, the wording (which may name internals) does not.
    subscribeMode = "internal";
    const internal = await openSubscribe(grpcClient(gateway), token).ended;
    expect(internal?.code).toBe(Code.Internal);
    expect(internal?.rawMessage).toBe("internal error");

    // Location ends its stream before caught_up (it is shutting down): Unavailable, retry.
    subscribeMode = "end-early";
    const early = openSubscribe(grpcClient(gateway), token);
    const cut = await early.ended;
    expect(early.events).toEqual(["packet queued/1"]);
    expect(cut?.code).toBe(Code.Unavailable);
    subscribeMode = "backlog";
    expect(await waitFor(() => gateway.live()?.streams === 0, 10_000)).toBe(true);
  });

  it("holds Connect-protocol streams over HTTP/2 too (connect-node clients)", async () => {
    subscribeMode = "backlog";
    const token = await mint("account-5c");
    const baseUrl = `http://127.0.0.1:${gateway.port}`;
    const connect = createClient(LocationService, createConnectTransport({ baseUrl, httpVersion: "2" }));
    const stream = openSubscribe(connect as ReturnType<typeof grpcClient>, token);
    expect(await waitFor(() => stream.events.length === 2, 10_000)).toBe(true);
    expect(await waitFor(() => readsOf("account-5c").length === 1, 10_000)).toBe(true);
    expect(readsOf("account-5c")).toEqual(["ended"]);
    expect(gateway.live()?.streams).toBe(1);
    hint("account-5c", "p", 9, 4n);
    expect(await waitFor(() => stream.events.length === 3, 10_000)).toBe(true);
    expect(stream.events).toEqual(["packet queued/1", "caughtUp", "packet p/9"]);
    // Errors travel in Connect's end-of-stream message, with their code and wording.
    gateway.context.sessions.keyRotated("account-5c", Date.now() + 1);
    const ended = await stream.ended;
    expect(ended?.code).toBe(Code.Unauthenticated);
    expect(ended?.rawMessage).toMatch(/session ended/);
  });

  /**
   * A binary Connect Subscribe over HTTP/1.1, sent by hand as a browser's fetch sends it: the
   * response's status and headers, each message as it arrives, and the end-of-stream message.
   */
  function http1Subscribe(port: number, headers: Record<string, string>, body: Buffer) {
    const messages: string[] = [];
    let last: { error?: { code: string; message: string } } | undefined;
    let pending = Buffer.alloc(0);
    const request = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/seeme.location.v1.LocationService/Subscribe",
      headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1", ...headers },
    });
    const response = new Promise<http.IncomingMessage>((resolve) => request.once("response", resolve));
    const ended = response.then(
      (res) =>
        new Promise<void>((resolve) => {
          res.on("data", (chunk: Buffer) => {
            pending = Buffer.concat([pending, chunk]);
            while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
              const payload = pending.subarray(5, 5 + pending.readUInt32BE(1));
              if (pending[0] === 2) last = JSON.parse(payload.toString());
              else {
                const { event } = fromBinary(SubscribeResponseSchema, payload);
                messages.push(
                  event.case === "packet" ? `packet ${event.value.pairId}/${event.value.packetId}` : `${event.case}`,
                );
              }
              pending = pending.subarray(5 + pending.readUInt32BE(1));
            }
          });
          res.once("end", resolve);
        }),
    );
    request.on("error", () => undefined);
    request.end(body);
    return { request, response, messages, ended, last: () => last };
  }

  it("holds binary Connect streams over HTTP/1.1 itself (the SDK's, and browsers' over http://): CORS, events, the end message", async () => {
    subscribeMode = "backlog";
    const account = "account-5i";
    const token = await mint(account);
    const origin = "https://app.example";
    const emptyRequest = Buffer.from([0, 0, 0, 0, 0]);
    const call = http1Subscribe(gateway.port, { origin, authorization: `Bearer ${token}` }, emptyRequest);
    const response = await call.response;
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toBe("application/connect+proto");
    expect(response.headers["access-control-allow-origin"]).toBe("*");
    expect(response.headers["access-control-expose-headers"]).toContain("retry-after-ms");
    expect(await waitFor(() => call.messages.length === 2, 10_000)).toBe(true);
    expect(await waitFor(() => readsOf(account).length === 1, 10_000)).toBe(true);
    expect(readsOf(account)).toEqual(["ended"]);
    expect(gateway.live()?.streams).toBe(1);
    hint(account, "p", 12, 1n);
    expect(await waitFor(() => call.messages.length === 3, 10_000)).toBe(true);
    expect(call.messages).toEqual(["packet queued/1", "caughtUp", "packet p/12"]);
    // The session's end ends the stream with Connect's last message, carrying the error.
    gateway.context.sessions.keyRotated(account, Date.now() + 1);
    await call.ended;
    expect(call.last()).toEqual({
      error: { code: "unauthenticated", message: expect.stringMatching(/session ended/) },
    });
    expect(await waitFor(() => gateway.live()?.streams === 0, 10_000)).toBe(true);

    // The relay's own checks answer in the last message too: a body that is not one
    // SubscribeRequest, and a missing token (no stream, no read of location).
    const token2 = await mint("account-5k");
    const malformed = http1Subscribe(
      gateway.port,
      { authorization: `Bearer ${token2}` },
      Buffer.from([0, 0, 0, 0, 9, 1]),
    );
    await malformed.ended;
    expect(malformed.last()).toEqual({
      error: {
        code: "invalid_argument",
        message: "malformed request: the body must be one length-prefixed SubscribeRequest",
      },
    });
    const anonymous = http1Subscribe(gateway.port, {}, emptyRequest);
    await anonymous.ended;
    expect(anonymous.last()?.error?.code).toBe("unauthenticated");
    expect(readsOf("account-5k")).toEqual([]);

    // A client that goes away frees the stream (its slot, its place in the hub).
    const leaving = http1Subscribe(gateway.port, { authorization: `Bearer ${token2}` }, emptyRequest);
    expect(await waitFor(() => leaving.messages.length === 2, 10_000)).toBe(true);
    expect(gateway.live()?.streams).toBe(1);
    leaving.request.destroy();
    expect(await waitFor(() => gateway.live()?.streams === 0, 10_000)).toBe(true);
  });

  it("holds the Connect server's streams the same way: browsers over HTTP/2 (Origin, CORS), JSON, gRPC-web", async () => {
    subscribeMode = "backlog";
    const baseUrl = `http://127.0.0.1:${gateway.port}`;
    const transports = {
      browser: createConnectTransport({ baseUrl, httpVersion: "2", interceptors: [withOrigin] }),
      json: createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
      "grpc-web": createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
    };
    let seq = 5n;
    for (const [name, transport] of Object.entries(transports)) {
      const account = `account-5d-${name}`;
      const controller = new AbortController();
      const client = createClient(LocationService, transport) as ReturnType<typeof grpcClient>;
      const stream = openSubscribe(client, await mint(account), controller.signal);
      expect(await waitFor(() => stream.events.length === 2, 10_000)).toBe(true);
      // Location is read for the backlog only, to its end; the stream is the gateway's.
      expect(await waitFor(() => readsOf(account).length === 1, 10_000)).toBe(true);
      expect(readsOf(account)).toEqual(["ended"]);
      expect(gateway.live()?.streams).toBe(1);
      hint(account, "p", 11, seq++);
      expect(await waitFor(() => stream.events.length === 3, 10_000)).toBe(true);
      expect(stream.events).toEqual(["packet queued/1", "caughtUp", "packet p/11"]);
      controller.abort();
      expect((await stream.ended)?.code).toBe(Code.Canceled);
      expect(await waitFor(() => gateway.live()?.streams === 0, 10_000)).toBe(true);
    }
  });

  it("caps the Connect server's streams and the relay's together, per account; a session's end ends them", async () => {
    subscribeMode = "backlog";
    const account = "account-5f";
    const token = await mint(account);
    const baseUrl = `http://127.0.0.1:${gateway.port}`;
    // A browser over HTTP/2 (CORS): the Connect server's stream.
    const browser = createClient(
      LocationService,
      createConnectTransport({ baseUrl, httpVersion: "2", interceptors: [withOrigin] }),
    ) as ReturnType<typeof grpcClient>;
    // The cap is 2 here: one stream each way, then a third is refused whichever way it comes.
    const held = [openSubscribe(browser, token), openSubscribe(grpcClient(gateway), token)];
    expect(await waitFor(() => held.every((stream) => stream.events.length === 2), 10_000)).toBe(true);
    for (const client of [browser, grpcClient(gateway)]) {
      const third = await openSubscribe(client, token).ended;
      expect(third?.code).toBe(Code.ResourceExhausted);
      expect(third?.rawMessage).toBe("this account already has 2 open Subscribe streams; close one first");
    }
    gateway.context.sessions.accountDeleted(account, Date.now());
    for (const stream of held) {
      const ended = await stream.ended;
      expect(ended?.code).toBe(Code.Unauthenticated);
      expect(ended?.rawMessage).toMatch(/session ended/);
    }
    expect(await waitFor(() => gateway.live()?.streams === 0, 10_000)).toBe(true);
  });

  it("ends the streams it holds, both ways in, with Unavailable when the gateway shuts down", async () => {
    subscribeMode = "backlog";
    const stopping = await startGatewayService(config(upstream.address), { log: silent });
    const baseUrl = `http://127.0.0.1:${stopping.port}`;
    // The relay's (gRPC; binary Connect over HTTP/1.1) and the Connect server's (JSON).
    const connect = (useBinaryFormat: boolean) =>
      createClient(
        LocationService,
        createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat }),
      ) as ReturnType<typeof grpcClient>;
    const streams = [
      openSubscribe(grpcClient(stopping), await mint("account-5g")),
      openSubscribe(connect(false), await mint("account-5h")),
      openSubscribe(connect(true), await mint("account-5j")),
    ];
    expect(await waitFor(() => streams.every((stream) => stream.events.length === 2), 10_000)).toBe(true);
    expect(stopping.live()?.streams).toBe(3);
    await stopping.stop();
    for (const stream of streams) {
      const ended = await stream.ended;
      expect(ended?.code).toBe(Code.Unavailable);
      expect(ended?.rawMessage).toBe("the gateway is shutting down; retry");
    }
  });

  it("refuses a Subscribe body that is not one uncompressed SubscribeRequest, with InvalidArgument", async () => {
    const token = await mint("account-5e");
    const session = http2.connect(`http://127.0.0.1:${gateway.port}`);
    try {
      const answers: string[] = [];
      for (const body of [Buffer.from([0, 0, 0, 0, 9, 1]), Buffer.from([1, 0, 0, 0, 0])]) {
        const call = session.request({
          ":method": "POST",
          ":path": "/seeme.location.v1.LocationService/Subscribe",
          "content-type": "application/grpc",
          te: "trailers",
          authorization: `Bearer ${token}`,
        });
        call.end(body);
        call.resume();
        const status = await new Promise<string>((resolve) => {
          call.on("response", (headers) => {
            if (headers["grpc-status"] !== undefined) resolve(`${headers["grpc-status"]} ${headers["grpc-message"]}`);
          });
          call.on("trailers", (trailers) => resolve(`${trailers["grpc-status"]} ${trailers["grpc-message"]}`));
        });
        answers.push(decodeURIComponent(status));
      }
      expect(answers).toEqual([
        `${Code.InvalidArgument} malformed request: the body must be one length-prefixed SubscribeRequest`,
        `${Code.InvalidArgument} compressed Subscribe requests are not accepted; send it uncompressed`,
      ]);
      expect(gateway.live()?.streams).toBe(0);
    } finally {
      session.close();
    }
  });

  it("while the gateway has lost NATS, held streams poll location's backlog; once NATS is back, polling stops", async () => {
    subscribeMode = "backlog";
    const nats = await startTcpProxy("127.0.0.1", 4222);
    const cut = await startGatewayService(
      config(upstream.address, { NATS_URL: `nats://127.0.0.1:${nats.port}`, SUBSCRIBE_POLL_INTERVAL: "300ms" }),
      { log: silent },
    );
    try {
      const stream = openSubscribe(grpcClient(cut), await mint("account-7"));
      expect(await waitFor(() => stream.events.length === 2, 10_000)).toBe(true);
      const hub = cut.live()!;
      nats.cut();
      expect(await waitFor(() => hub.polling, 5000)).toBe(true);
      // Location took a packet meanwhile: the stream gets it by polling, while NATS is still cut.
      queued.push(2);
      expect(await waitFor(() => stream.events.length === 3, 5000)).toBe(true);
      expect(stream.events).toEqual(["packet queued/1", "caughtUp", "packet queued/2"]);
      expect(hub.polling).toBe(true);
      expect(callsOf("account-7")).toBeGreaterThanOrEqual(2);

      nats.restore();
      expect(await waitFor(() => !hub.polling, 15_000)).toBe(true);
      // The read on reconnecting (hints sent meanwhile are gone) ends; connected and idle again, no more reads.
      const settled = () => waitFor(() => readsOf("account-7").length === callsOf("account-7"), 5000);
      expect(await settled()).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await settled()).toBe(true);
      const reads = callsOf("account-7");
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(callsOf("account-7")).toBe(reads);
      hint("account-7", "p", 9, 1n);
      expect(await waitFor(() => stream.events.length === 4, 10_000)).toBe(true);
      expect(stream.events.at(-1)).toBe("packet p/9");
      expect(callsOf("account-7")).toBe(reads);
    } finally {
      queued.length = 1;
      await cut.stop();
      await nats.close();
    }
  }, 40_000);

  it("ends a Sync at the client's deadline and cancels it at location", async () => {
    aborted.length = 0;
    const error = await failure(
      grpcClient(gateway).sync({ pageSize: 7 }, { headers: bearer(await mint("account-6")), timeoutMs: 300 }),
    );
    expect(error?.code).toBe(Code.DeadlineExceeded);
    expect(await waitFor(() => aborted.includes("sync"), 10_000)).toBe(true);

    // An upstream that ignores deadlines and a client without one: the gateway's own timer
    // (UPSTREAM_TIMEOUT) ends the call.
    rawMode = "hang";
    const hung = await failure(grpcClient(rawGateway).sync({}, { headers: bearer(await mint("account-6")) }));
    expect(hung?.code).toBe(Code.DeadlineExceeded);
    rawMode = "ok";
  });

  it("caps the Sync body (sized from the relay limits) with ResourceExhausted before location sees it", async () => {
    callers.length = 0;
    const blob = new Uint8Array(300 * 1024);
    const error = await failure(
      grpcClient(gateway).sync(
        { data: [{ pairId: "p", packetId: 1, blob }] },
        { headers: bearer(await mint("account-7")) },
      ),
    );
    expect(error?.code).toBe(Code.ResourceExhausted);
    expect(callers).toEqual([]);
  });

  it("answers Unavailable, naming no address, when location is down, resets the call or does not speak gRPC", async () => {
    const token = await mint("account-8");
    const down = await failure(grpcClient(deadGateway).sync({}, { headers: bearer(token) }));
    expect(down?.code).toBe(Code.Unavailable);
    expect(down?.rawMessage).not.toContain(String(deadPort));
    const downStream = await failure(
      (async () => {
        for await (const _ of grpcClient(deadGateway).subscribe({}, { headers: bearer(token) }));
      })(),
    );
    expect(downStream?.code).toBe(Code.Unavailable);
    for (const mode of ["reset", "http503", "no-trailers"] as const) {
      rawMode = mode;
      const error = await failure(grpcClient(rawGateway).sync({}, { headers: bearer(token) }));
      expect({ mode, code: error?.code }).toEqual({ mode, code: Code.Unavailable });
      expect(error?.rawMessage).not.toContain(String(rawPort));
    }
    rawMode = "ok";
  });

  it("leaves Connect and gRPC-web calls to the Connect server path, which still serves them", async () => {
    const baseUrl = `http://127.0.0.1:${gateway.port}`;
    callers.length = 0;
    rawHeaders.length = 0;
    const token = await mint("account-9");
    for (const transport of [
      createConnectTransport({ baseUrl, httpVersion: "1.1" }),
      createConnectTransport({ baseUrl, httpVersion: "2" }),
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
    ]) {
      const answer = await createClient(LocationService, transport).sync({ pageSize: 3 }, { headers: bearer(token) });
      expect(answer.hasMore).toBe(true);
    }
    expect(callers).toEqual(["account-9", "account-9", "account-9"]);
    // Through the bare upstream: grpc-js (the Connect path's client) names itself.
    await createClient(
      LocationService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${rawGateway.port}`, httpVersion: "2" }),
    ).sync({}, { headers: bearer(token) });
    expect(String(rawHeaders.at(-1)?.["user-agent"])).toMatch(/grpc-node-js/);
  });
});
