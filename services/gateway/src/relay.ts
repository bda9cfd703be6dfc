import type http from "node:http";
import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type IncomingPacket,
  LocationService,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
} from "@seeme/contracts/location";
import { RETRY_AFTER_HEADER, type Admission } from "@seeme/runtime/admission";
import { CALLER_HEADER, SERVICE_HEADER } from "@seeme/runtime/caller";
import type { LiveHub } from "@seeme/runtime/live-hub";
import { LiveFeed, type LiveSink, type SubscribeEvent } from "@seeme/runtime/live-stream";
import type { Metrics } from "@seeme/runtime/metrics";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import { startRelaySpan, type RelaySpan } from "@seeme/runtime/tracing";
import type { GatewayContext } from "./context.js";
import { Credentials, SESSION_ENDED } from "./forward.js";
import type { H2Pool } from "./h2-pool.js";
import { clientAddress } from "./http.js";
import { publicError } from "./public-errors.js";
import { GATEWAY_STOPPING, UNAVAILABLE, type HeldStreams } from "./held-streams.js";
import { HttpRelayStream, type RelayStream } from "./relay-stream.js";
import { bearerTokenOf, type Session, type SessionHold } from "./sessions.js";

/**
 * The raw path (docs/hot-path.md), for Sync and Subscribe over HTTP/2 and the
 * binary Connect Subscribe over HTTP/1.1 — no Connect server, no grpc-js server
 * objects per call:
 *
 * - Sync over gRPC is passed to location as an HTTP/2 stream, frame payloads
 *   copied as they come (no protobuf, no grpc-js client);
 * - Subscribe over gRPC or the binary Connect protocol (HTTP/1.1 too, through
 *   HttpRelayStream: the SDK's and browsers' streams over http://) is held here
 *   (held-streams.ts): the gateway's own live hub (@seeme/runtime/live-hub)
 *   pushes the account's packets from NATS hints, and location is asked only for
 *   the backlog, reading its Subscribe up to `caught_up`, when the stream opens
 *   and when hints may have been lost. An idle stream costs the gateway an HTTP/2
 *   stream and a few objects, and location nothing.
 *
 * What the gateway owes every call still happens here, before anything goes
 * upstream: the session token is verified locally (sessions.ts) and replaced by
 * the signed caller, service and client-address metadata forward.ts sends on the
 * decoding path; Sync passes admission control; bodies are capped, slow bodies
 * cut, deadlines enforced (the client's, capped at UPSTREAM_TIMEOUT for Sync);
 * failures reach the client as the same public errors (public-errors.ts).
 * gRPC-web, JSON, Connect unary calls and browsers' calls over HTTP/2 (they need
 * CORS, which http.ts answers) take the Connect server path; their Subscribe
 * streams are held the same way (held-streams.ts).
 */
export interface RelayOptions {
  context: GatewayContext;
  admission: Admission;
  pool: H2Pool;
  metrics: Metrics;
  syncMaxBytes: number;
  /** Aborted at shutdown: open Subscribe streams end with Unavailable (Syncs finish within the grace period). */
  shutdownSignal: AbortSignal;
  /** The Subscribe streams this gateway holds, with the Connect server's (held-streams.ts). */
  held: HeldStreams;
}

type Protocol = "grpc" | "connect";

interface Method {
  name: string;
  unary: boolean;
  maxBytes: number;
}

const STATUS = http2.constants;
// The flag byte of Connect's last message on a stream: JSON with the status (and error), not a response.
const CONNECT_END_STREAM = 0x02;
const CONNECT_TIMEOUT = /^\d{1,10}$/;
const CODE_NAMES = new Map<number, string>(
  Object.values(Code)
    .filter((value): value is Code => typeof value === "number")
    .map((code) => [code, Code[code].replace(/(?<=[a-z])(?=[A-Z])/g, "_").toUpperCase()]),
);
CODE_NAMES.set(0, "OK");
// Trailers of location's answer that reach the client (everything else is dropped).
const PASSED_TRAILERS = ["grpc-status-details-bin", RETRY_AFTER_HEADER];
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

// Errors of a call's streams are answered by their "close" (and the call's own status).
const ignore = () => undefined;

/** A timer that does not keep the process alive. */
function unrefTimer(ms: number, run: () => void): NodeJS.Timeout {
  const timer = setTimeout(run, ms);
  timer.unref();
  return timer;
}

/** gRPC percent-encodes grpc-message (anything outside printable ASCII, and %). */
function encodeMessage(message: string): string {
  return message.replace(/[^\x20-\x24\x26-\x7e]/g, (char) => encodeURIComponent(char));
}

/** The relay's paths (`/seeme.location.v1.LocationService/Sync`, …) and their limits. */
function relayMethods(syncMaxBytes: number, maxRequestBytes: number): Map<string, Method> {
  const methods = new Map<string, Method>();
  for (const method of [LocationService.method.sync, LocationService.method.subscribe]) {
    methods.set(`/${LocationService.typeName}/${method.name}`, {
      name: method.name,
      unary: method.methodKind === "unary",
      // A gRPC body is the message behind a 5-byte prefix.
      maxBytes: (method.name === "Sync" ? syncMaxBytes : maxRequestBytes) + 5,
    });
  }
  return methods;
}

/**
 * The protocol of a call the raw path takes: gRPC with protobuf for both methods; the
 * Connect protocol with protobuf for Subscribe when no browser is calling (a browser
 * sends Origin and needs the Connect server's CORS answers). Undefined leaves the call
 * to the Connect server (gRPC-web, JSON, Connect unary).
 */
function protocolOf(method: Method, headers: http2.IncomingHttpHeaders): Protocol | undefined {
  const contentType = headers["content-type"];
  if (contentType === "application/grpc" || contentType === "application/grpc+proto") return "grpc";
  if (!method.unary && contentType === "application/connect+proto" && headers.origin === undefined) return "connect";
  return undefined;
}

/** One length-prefixed message, as gRPC and Connect's streams both frame them. */
function envelope(flags: number, message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = flags;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** Why a Subscribe request body is not one uncompressed SubscribeRequest, or undefined when it is. */
function requestProblem(body: Buffer): string | undefined {
  if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5)
    return "malformed request: the body must be one length-prefixed SubscribeRequest";
  if (body[0] !== 0) return "compressed Subscribe requests are not accepted; send it uncompressed";
  try {
    fromBinary(SubscribeRequestSchema, body.subarray(5));
    return undefined;
  } catch (error) {
    return `malformed request: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * Returns the HTTP/2 stream handler: it takes the stream (true) when it is a
 * gRPC call to Sync or Subscribe, and leaves every other stream (false) to the
 * compatibility layer and the Connect server.
 */
export function createRelay(options: RelayOptions): {
  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean;
  handleHttp(req: http.IncomingMessage, res: http.ServerResponse): boolean;
} {
  const { context, admission, pool, metrics, held } = options;
  const { config, sessions } = context;
  const methods = relayMethods(options.syncMaxBytes, config.maxRequestBytes);
  const credentials = new Credentials(config.internalAuthSecret);
  // The Subscribe streams held here, ended at shutdown.
  const streams = new Set<RelayCall>();
  options.shutdownSignal.addEventListener("abort", () => {
    for (const call of [...streams]) call.fail(Code.Unavailable, GATEWAY_STOPPING);
  });

  const handle = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean => {
    const path = headers[":path"];
    const method = path === undefined ? undefined : methods.get(path);
    if (!method || headers[":method"] !== "POST") return false;
    const protocol = protocolOf(method, headers);
    if (!protocol) return false;
    new RelayCall(stream, headers, method, path!, protocol).start();
    return true;
  };

  /**
   * Takes an HTTP/1.1 request (true) when it is a binary Connect Subscribe — the SDK's and
   * browsers' streams over http:// — after http.ts has answered its CORS; leaves every other
   * request (false) to the Connect server.
   */
  const handleHttp = (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    const method = req.url === undefined ? undefined : methods.get(req.url);
    // Subscribe only: Connect's unary framing (Sync) stays with the Connect server.
    if (!method || method.unary || req.method !== "POST") return false;
    if (req.headers["content-type"] !== "application/connect+proto") return false;
    new RelayCall(new HttpRelayStream(req, res), req.headers, method, req.url!, "connect").start();
    return true;
  };

  class RelayCall implements LiveSink {
    private responded = false;
    private done = false;
    private upstream?: http2.ClientHttp2Stream;
    private upstreamEnded = false;
    private upstreamTrailers?: http2.IncomingHttpHeaders;
    private releaseAdmission?: () => void;
    private hold?: SessionHold;
    private span?: RelaySpan;
    // The request body's deadline (until it has arrived) and the client's deadline for the call.
    private bodyTimer?: NodeJS.Timeout;
    private deadlineTimer?: NodeJS.Timeout;
    private bodyBytes = 0;
    private finalTrailers?: http2.OutgoingHttpHeaders;
    /** A held Subscribe: its slot in the account's cap and its live feed. */
    private releaseSlot?: () => void;
    private feed?: LiveFeed;
    private readonly started = performance.now();

    constructor(
      private readonly stream: RelayStream,
      private readonly headers: http2.IncomingHttpHeaders,
      private readonly method: Method,
      private readonly path: string,
      private readonly protocol: Protocol,
    ) {}

    start(): void {
      const { stream } = this;
      stream.on("error", ignore);
      // The client went away (cancelled, reset, connection lost): the upstream call goes too.
      // ("close" comes once: `on` spares the wrapper `once` would keep for a held stream's life.)
      stream.on("close", () => this.end());
      stream.on("wantTrailers", () => stream.sendTrailers(this.finalTrailers ?? { "grpc-status": "0" }));
      // The body must have arrived this long after the headers (slow senders hold nothing for ever).
      if (!stream.readableEnded) {
        this.bodyTimer = unrefTimer(config.bodyTimeoutMs, () => this.cancelSlowBody());
        // Let go of it once the body is in: a held stream would keep it for its whole life.
        stream.once("end", () => {
          clearTimeout(this.bodyTimer);
          this.bodyTimer = undefined;
        });
      }
      const timeoutMs = this.timeoutMs();
      if (timeoutMs === null) {
        this.fail(Code.InvalidArgument, `malformed ${this.protocol}-timeout header`);
        return;
      }
      if (timeoutMs !== undefined)
        this.deadlineTimer = unrefTimer(timeoutMs, () => this.fail(Code.DeadlineExceeded, "deadline exceeded"));
      stream.pause();
      this.authorize()
        .then((session) => (this.done ? undefined : this.forward(session, timeoutMs)))
        .catch((error: unknown) => {
          const failure = publicError(error);
          this.fail(failure.code, failure.rawMessage, failure.metadata.get(RETRY_AFTER_HEADER) ?? undefined);
        });
    }

    /** The client's deadline in ms (capped for Sync); undefined for none; null when unreadable. */
    private timeoutMs(): number | undefined | null {
      let ms: number | undefined;
      if (this.protocol === "connect") {
        const header = this.headers["connect-timeout-ms"];
        if (header === undefined) return undefined;
        if (!CONNECT_TIMEOUT.test(header as string)) return null;
        return Math.max(1, Number(header));
      }
      const header = this.headers["grpc-timeout"];
      if (header !== undefined) {
        const match = GRPC_TIMEOUT.exec(header as string);
        if (!match) return null;
        ms = Math.max(1, Math.ceil(Number(match[1]) * TIMEOUT_UNIT_MS[match[2]]));
      }
      return this.method.unary ? Math.min(ms ?? Infinity, config.upstreamTimeoutMs) : ms;
    }

    private async authorize(): Promise<Session> {
      const authorization = this.headers.authorization;
      const token = bearerTokenOf(typeof authorization === "string" ? authorization : undefined);
      if (token === undefined)
        throw new ConnectError(
          'authentication required: send "Authorization: Bearer <session token>"',
          Code.Unauthenticated,
        );
      const session = await sessions.verify(token);
      // After the session check, as on the Connect path: a refused token never takes a slot.
      if (this.method.unary) {
        const release = await admission.acquire();
        if (this.done) release();
        else this.releaseAdmission = release;
      }
      return session;
    }

    private forward(session: Session, timeoutMs: number | undefined): void {
      this.span = startRelaySpan(LocationService.typeName, this.method.name);
      if (!this.method.unary) {
        this.holdStream(session);
        return;
      }
      const { stream, headers } = this;
      const now = Date.now();
      const upstreamHeaders: http2.OutgoingHttpHeaders = {
        ":method": "POST",
        ":path": this.path,
        "content-type": "application/grpc",
        te: "trailers",
        [SERVICE_HEADER]: credentials.forService(now),
        [CALLER_HEADER]: credentials.forCaller(session.accountId, now),
        [CLIENT_ADDRESS_HEADER]: credentials.forAddress(
          clientAddress({ headers, socket: stream.session?.socket ?? {} }, config.trustedProxyHops),
          now,
        ),
      };
      if (timeoutMs !== undefined) upstreamHeaders["grpc-timeout"] = `${Math.ceil(timeoutMs)}m`;
      // Compressed messages pass as they are; location reads them. The client's trace context does
      // not (a device cannot choose our trace ids): the call's own span is the root (tracing on).
      for (const name of ["grpc-encoding", "grpc-accept-encoding"])
        if (headers[name] !== undefined) upstreamHeaders[name] = headers[name];
      if (this.span) Object.assign(upstreamHeaders, this.span.headers);
      let upstream: http2.ClientHttp2Stream;
      try {
        upstream = pool.request(upstreamHeaders);
      } catch (error) {
        context.log.warn({ err: error }, "no upstream session for a relayed call");
        this.fail(Code.Unavailable, UNAVAILABLE);
        return;
      }
      this.upstream = upstream;
      upstream.on("error", ignore);
      upstream.on("response", (responseHeaders, flags) => this.onResponse(responseHeaders, flags));
      upstream.on("data", (chunk: Buffer) => {
        if (this.done) return;
        if (!stream.write(chunk)) {
          upstream.pause();
          stream.once("drain", () => upstream.resume());
        }
      });
      upstream.on("trailers", (trailers) => {
        this.upstreamTrailers = trailers;
      });
      upstream.on("end", () => {
        this.upstreamEnded = true;
        const trailers = this.upstreamTrailers;
        if (trailers?.["grpc-status"] !== undefined) this.finishFrom(trailers);
        else this.fail(Code.Unavailable, UNAVAILABLE);
      });
      // Reset, or the session died, before location answered.
      upstream.once("close", () => {
        if (!this.done) this.fail(Code.Unavailable, UNAVAILABLE);
      });
      stream.on("data", (chunk: Buffer) => {
        this.bodyBytes += chunk.length;
        if (this.bodyBytes > this.method.maxBytes) {
          this.fail(Code.ResourceExhausted, `message larger than ${this.method.maxBytes - 5} bytes`);
          return;
        }
        if (!upstream.write(chunk)) {
          stream.pause();
          upstream.once("drain", () => stream.resume());
        }
      });
      stream.once("end", () => {
        if (!this.done) upstream.end();
      });
      stream.resume();
    }

    /** Subscribe: held here, pushed from the gateway's live hub (see the top of this file). */
    private holdStream(session: Session): void {
      const { accountId } = session;
      const hub = held.hub();
      this.releaseSlot = held.acquire(accountId);
      // A stream is checked once when it opens, so it must end with its session.
      this.hold = sessions.hold(session);
      if (this.hold.signal.aborted) {
        this.fail(Code.Unauthenticated, SESSION_ENDED);
        return;
      }
      this.hold.signal.addEventListener("abort", () => this.fail(Code.Unauthenticated, SESSION_ENDED), { once: true });
      streams.add(this);
      void this.readRequest().then((body) => {
        if (body === undefined || this.done) return;
        const problem = requestProblem(body);
        if (problem) this.fail(Code.InvalidArgument, problem);
        else this.openFeed(hub, accountId);
      });
    }

    /** The request body, read to its end within its cap; undefined when the call ended first. */
    private readRequest(): Promise<Buffer | undefined> {
      const { stream } = this;
      const chunks: Buffer[] = [];
      return new Promise((resolve) => {
        const onData = (chunk: Buffer) => {
          this.bodyBytes += chunk.length;
          if (this.bodyBytes > this.method.maxBytes) {
            this.fail(Code.ResourceExhausted, `message larger than ${this.method.maxBytes - 5} bytes`);
            settle(undefined);
          } else chunks.push(chunk);
        };
        const onEnd = () => settle(Buffer.concat(chunks));
        const onClose = () => settle(undefined);
        // A held stream lives for hours: it keeps neither these listeners nor the request's chunks.
        const settle = (body: Buffer | undefined) => {
          stream.off("data", onData);
          stream.off("end", onEnd);
          stream.off("close", onClose);
          chunks.length = 0;
          resolve(body);
        };
        stream.on("data", onData);
        stream.once("end", onEnd);
        stream.once("close", onClose);
        stream.resume();
      });
    }

    /** Answers the stream and starts its live feed: the backlog, `caught_up`, then what hints announce. */
    private openFeed(hub: LiveHub, accountId: string): void {
      if (this.stream.destroyed) return;
      this.responded = true;
      const contentType = this.protocol === "grpc" ? "application/grpc" : "application/connect+proto";
      this.stream.respond(
        { ":status": 200, "content-type": contentType },
        { waitForTrailers: this.protocol === "grpc" },
      );
      this.feed = new LiveFeed(hub, accountId, this);
      this.feed.start();
    }

    backlog(signal: AbortSignal): AsyncIterable<IncomingPacket> {
      const { hub, accountId } = this.feed!;
      return held.backlog(hub, accountId, signal, this.span?.headers);
    }

    send(event: SubscribeEvent): boolean {
      if (this.done) return true;
      return this.stream.write(envelope(0, toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, event))));
    }

    /** Resolves once the client has read what is buffered, or the stream is gone. */
    drained(): Promise<void> {
      return new Promise((resolve) => {
        const done = () => {
          this.stream.off("drain", done);
          this.stream.off("close", done);
          resolve();
        };
        this.stream.once("drain", done);
        this.stream.once("close", done);
      });
    }

    /** The backlog read failed: the stream ends with its public error. */
    failed(error: unknown): void {
      const failure = held.failure(error);
      this.fail(failure.code, failure.rawMessage, failure.metadata.get(RETRY_AFTER_HEADER) ?? undefined);
    }

    private onResponse(responseHeaders: http2.IncomingHttpHeaders, flags: number): void {
      if (this.done) return;
      const status = responseHeaders[":status"];
      const contentType = responseHeaders["content-type"];
      if (Number(status) !== 200 || typeof contentType !== "string" || !contentType.startsWith("application/grpc")) {
        this.fail(Code.Unavailable, UNAVAILABLE);
        return;
      }
      // Trailers-only: location answered with a status and no message.
      if (responseHeaders["grpc-status"] !== undefined) {
        this.upstreamEnded = (flags & STATUS.NGHTTP2_FLAG_END_STREAM) !== 0;
        this.finishFrom(responseHeaders);
        return;
      }
      const out: http2.OutgoingHttpHeaders = { ":status": 200, "content-type": contentType };
      if (responseHeaders["grpc-encoding"] !== undefined) out["grpc-encoding"] = responseHeaders["grpc-encoding"];
      this.responded = true;
      this.stream.respond(out, { waitForTrailers: true });
    }

    /** Ends the call with location's status, made public (public-errors.ts). */
    private finishFrom(trailers: http2.IncomingHttpHeaders): void {
      const code = Number(trailers["grpc-status"]);
      const message = trailers["grpc-message"];
      let rawMessage: string | undefined;
      try {
        rawMessage = typeof message === "string" ? decodeURIComponent(message) : "";
      } catch {
        rawMessage = typeof message === "string" ? message : "";
      }
      if (!Number.isInteger(code) || code < 0 || code > 16) {
        this.fail(Code.Unavailable, UNAVAILABLE);
        return;
      }
      const translated = code === 0 ? undefined : publicError(new ConnectError(rawMessage, code as Code));
      if (!translated) {
        this.finish(0, undefined, trailers);
        return;
      }
      // Codes that pass unchanged keep their message and details; the rest get the fixed public wording.
      const unchanged = translated.code === code && translated.rawMessage === rawMessage;
      this.finish(translated.code, translated.rawMessage, unchanged ? trailers : undefined);
    }

    fail(code: Code, message: string, retryAfter?: string): void {
      this.finish(code, message, retryAfter === undefined ? undefined : { [RETRY_AFTER_HEADER]: retryAfter });
    }

    /** Sends the final status (trailers-only if nothing was sent yet) and lets go of everything the call held. */
    private finish(code: number, message: string | undefined, passed?: http2.IncomingHttpHeaders): void {
      if (this.done) return;
      const trailers: http2.OutgoingHttpHeaders = { "grpc-status": String(code) };
      if (message) trailers["grpc-message"] = encodeMessage(message);
      for (const name of PASSED_TRAILERS) if (passed?.[name] !== undefined) trailers[name] = passed[name];
      this.end(code);
      const { stream } = this;
      if (stream.closed || stream.destroyed) return;
      if (this.protocol === "connect") {
        this.endConnectStream(code, message, passed?.[RETRY_AFTER_HEADER]);
      } else if (this.responded) {
        this.finalTrailers = trailers;
        stream.end();
      } else {
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      }
      // Whatever of the request body is still unread is not wanted.
      if (!stream.readableEnded) stream.resume();
    }

    /** Connect ends a stream with a last message: `{}`, or the error (with its metadata) as JSON. */
    private endConnectStream(code: number, message: string | undefined, retryAfter: unknown): void {
      const error = {
        code: CODE_NAMES.get(code)?.toLowerCase() ?? "unknown",
        message,
        ...(retryAfter === undefined ? {} : { metadata: { [RETRY_AFTER_HEADER]: [String(retryAfter)] } }),
      };
      if (!this.responded) {
        this.responded = true;
        this.stream.respond({ ":status": 200, "content-type": "application/connect+proto" });
      }
      this.stream.end(envelope(CONNECT_END_STREAM, Buffer.from(JSON.stringify(code === 0 ? {} : { error }))));
    }

    /** Releases the call's hold on everything (idempotent): timers, admission slot, session hold, upstream stream. */
    private end(code: number = Code.Canceled): void {
      if (this.done) return;
      this.done = true;
      clearTimeout(this.bodyTimer);
      clearTimeout(this.deadlineTimer);
      this.releaseAdmission?.();
      this.hold?.release();
      this.feed?.stop();
      this.releaseSlot?.();
      streams.delete(this);
      this.span?.end(code);
      const upstream = this.upstream;
      if (upstream && !this.upstreamEnded && !upstream.closed) upstream.close(STATUS.NGHTTP2_CANCEL);
      const labels = { service: LocationService.typeName, method: this.method.name };
      metrics.rpcHandled.inc({ ...labels, code: CODE_NAMES.get(code) ?? "UNKNOWN" });
      metrics.rpcSeconds.observe(labels, (performance.now() - this.started) / 1000);
    }

    private cancelSlowBody(): void {
      if (this.stream.readableEnded) return;
      this.end();
      if (!this.stream.closed) this.stream.close(STATUS.NGHTTP2_CANCEL);
    }
  }

  return { handle, handleHttp };
}
