import { isAddressInUse, PortInUseError } from "@seeme/runtime/config";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { pingOrDestroy } from "./h2-ping.js";

export type RequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");
const EMPTY = Buffer.alloc(0);

export interface Listener {
  port: number;
  /** Stops accepting, lets open requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

/**
 * Counts a connection's open requests (HTTP/1.1) or streams (HTTP/2) and calls
 * `onIdle` once it has had none for `idleMs`: idle and trickling connections
 * (slowloris) cannot pile up, while a quiet Subscribe stream is never cut.
 */
class Activity {
  open = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly idleMs: number,
    private readonly onIdle: () => void,
  ) {
    this.arm();
  }

  begin(): void {
    this.open += 1;
    clearTimeout(this.timer);
    // Not kept while requests are open: a held stream's connection carries no timer object.
    this.timer = undefined;
  }

  end(): void {
    this.open -= 1;
    if (this.open === 0) this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(this.onIdle, this.idleMs);
    this.timer.unref();
  }
}

/**
 * One plaintext port for HTTP/1.1 (Connect, gRPC-web, browsers) and h2c (gRPC,
 * Connect over HTTP/2). Node's plaintext HTTP/2 server cannot fall back to
 * HTTP/1.1, so we read the first bytes of each connection and hand it to the
 * matching server: the HTTP/2 client preface is unmistakable. Neither server
 * listens itself, so Node's own connection timeouts never run: Activity does
 * that job.
 */
export interface ListenOptions {
  h2MaxConcurrentStreams?: number;
  /** How often a quiet connection is probed (HTTP/2 PING, TCP keepalive for HTTP/1.1). */
  keepaliveMs?: number;
  /** An HTTP/2 PING unanswered this long ends the connection and its streams. */
  keepaliveTimeoutMs?: number;
  /**
   * Sees every HTTP/2 stream first, before Node's compatibility layer builds its
   * request and response objects; true takes the stream (the raw relay, relay.ts).
   */
  h2Stream?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
}

/**
 * Ends HTTP/2 sessions whose peer stopped answering PINGs. A client that
 * vanished without closing (phone off the network, process frozen) leaves
 * its streams open for ever otherwise: nothing is written to a quiet
 * Subscribe, so nothing ever fails.
 */
function keepAlive(session: http2.ServerHttp2Session, everyMs: number, timeoutMs: number): void {
  const timer = setInterval(() => {
    // A session can be destroyed before its "close" event stops this timer; ping() would throw.
    if (session.destroyed || session.closed) return clearInterval(timer);
    pingOrDestroy(session, timeoutMs);
  }, everyMs);
  timer.unref();
  session.once("close", () => clearInterval(timer));
}

/**
 * An HTTP/1.1 answer written before its request body was read to the end (a refusal: the session
 * gate, a body cap, a unary gRPC-web call with extra messages) closes the connection. Node pulls
 * the rest of a body off the wire only if nobody started reading it; once Connect has read part
 * of it, the unread remainder stays in the socket, the parser never reaches the client's next
 * request on that kept-alive connection, and that call hangs until the idle timer (fuzz: 27
 * unanswered calls in 100k). `Connection: close` tells the client not to reuse the socket.
 * Every way of sending the head (writeHead, or the implicit one of write/end) goes through
 * writeHead; a subclass rather than a wrapper per response, as a held stream keeps its response.
 */
class ClosingIfBodyUnread extends http.ServerResponse {
  override writeHead(
    statusCode: number,
    messageOrHeaders?: string | http.OutgoingHttpHeaders | http.OutgoingHttpHeader[],
    headers?: http.OutgoingHttpHeaders | http.OutgoingHttpHeader[],
  ): this {
    if (!this.req.complete) this.shouldKeepAlive = false;
    return typeof messageOrHeaders === "string"
      ? super.writeHead(statusCode, messageOrHeaders, headers)
      : super.writeHead(statusCode, messageOrHeaders ?? headers);
  }
}

/**
 * Node destroys a closed HTTP/2 stream only once its request body has been read to the end. A call
 * answered after Connect stopped reading its body halfway (a body over its cap, a refusal) leaves
 * the rest paused in the stream's buffer: that stream never ends, never emits "close", and stays in
 * its session for ever, keeping the session (which cannot finish closing), the request, the
 * response and the buffers alive (the gateway's growth in the fuzz run: 10 such streams per 300
 * fuzzed RotateKey calls over gRPC). Once the answer is out and HTTP/2 has closed the stream (every
 * frame sent and received), destroying it loses nothing.
 */
function destroyOnceClosed(stream: http2.ServerHttp2Stream): void {
  // A body read to its end lets Node destroy the stream itself: no timer on the common path.
  if (stream.destroyed || stream.readableEnded) return;
  if (stream.closed) stream.destroy();
  else setTimeout(destroyOnceClosed, CLOSED_STREAM_CHECK_MS, stream).unref();
}

/** How often an answered HTTP/2 stream is checked for having closed (destroyOnceClosed). */
const CLOSED_STREAM_CHECK_MS = 1_000;

export async function listenHttp(
  handler: RequestHandler,
  port: number,
  host: string,
  idleMs: number,
  options: ListenOptions = {},
): Promise<Listener> {
  const keepaliveMs = options.keepaliveMs ?? 30_000;
  const keepaliveTimeoutMs = options.keepaliveTimeoutMs ?? 10_000;
  const h1 = http.createServer({ ServerResponse: ClosingIfBodyUnread }, handler as http.RequestListener);
  // Node closes idle keep-alive sockets after 5 s by default, racing clients that
  // reuse them (a "fetch failed" on a healthy gateway); idleness is ours to judge (Activity).
  h1.keepAliveTimeout = idleMs;
  // Bounds what one HTTP/2 connection may open at once (Node's default is unlimited).
  const settings = { maxConcurrentStreams: options.h2MaxConcurrentStreams ?? 1000 };
  const h2 = http2.createServer(
    { settings },
    handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
  const takeStream = options.h2Stream;
  if (takeStream) {
    // The compatibility layer is a "stream" listener of the server: it runs only for streams not taken.
    const compat = h2.listeners("stream") as Array<(...args: unknown[]) => void>;
    h2.removeAllListeners("stream");
    h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      if (takeStream(stream, headers)) return;
      for (const listener of compat) listener.call(h2, stream, headers, ...rest);
    });
  }
  const sockets = new Set<net.Socket>();
  const h1Activity = new Map<net.Socket, Activity>();
  const h2Activity = new Map<http2.ServerHttp2Session, Activity>();
  let closing = false;

  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const activity = h1Activity.get(req.socket);
    activity?.begin();
    // "close" comes once: `on` spares the wrapper `once` would keep for the response's life.
    res.on("close", () => {
      activity?.end();
      if (closing && activity?.open === 0) req.socket.destroy();
    });
    if (closing) res.setHeader("connection", "close");
  });
  h2.on("session", (session) => {
    keepAlive(session, keepaliveMs, keepaliveTimeoutMs);
    const activity = new Activity(idleMs, () => session.close());
    h2Activity.set(session, activity);
    session.on("stream", (stream) => {
      activity.begin();
      stream.once("close", () => activity.end());
      stream.once("finish", () => destroyOnceClosed(stream));
    });
    session.once("close", () => {
      activity.stop();
      h2Activity.delete(session);
    });
  });

  /** Hands a connection whose first bytes said its protocol to the matching server. */
  const dispatch = (socket: net.Socket, isHttp2: boolean) => {
    if (!isHttp2) {
      const activity = new Activity(idleMs, () => socket.destroy());
      h1Activity.set(socket, activity);
      socket.on("close", () => {
        activity.stop();
        h1Activity.delete(socket);
      });
    }
    (isHttp2 ? h2 : h1).emit("connection", socket);
  };
  // Reads a connection's first bytes until they tell HTTP/2's preface from HTTP/1.1. Its scope
  // (bytes, timer, listeners) is let go once decided: dispatch's is what lives with the connection.
  const route = (socket: net.Socket) => {
    let head = EMPTY;
    // A connection that never says which protocol it speaks is dropped.
    const undecided = setTimeout(() => socket.destroy(), idleMs);
    const stopUndecided = () => clearTimeout(undecided);
    const onReadable = () => {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null)
        head = Buffer.concat([head, chunk]);
      const decided = head.length >= H2_PREFACE.length || !H2_PREFACE.subarray(0, head.length).equals(head);
      if (!decided) return;
      stopUndecided();
      socket.off("close", stopUndecided);
      socket.off("readable", onReadable);
      socket.unshift(head);
      dispatch(socket, head.subarray(0, H2_PREFACE.length).equals(H2_PREFACE));
    };
    socket.once("close", stopUndecided);
    socket.on("readable", onReadable);
  };
  const server = net.createServer((socket) => {
    // HTTP/1.1 has no PING: the kernel probes a quiet connection and fails it if the peer is gone.
    socket.setKeepAlive(true, keepaliveMs);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    route(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        isAddressInUse(error)
          ? new PortInUseError("GATEWAY_PORT", port)
          : new Error(`cannot listen on ${host}:${port}: ${error.message}`),
      ),
    );
    server.listen(port, host, resolve);
  });
  const address = server.address() as net.AddressInfo;

  return {
    port: address.port,
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of h2Activity.keys()) session.close();
      for (const [socket, activity] of h1Activity) if (activity.open === 0) socket.destroy();
      // Connections still routing (no bytes yet) and requests that outlive the grace period are cut.
      for (const socket of sockets) if (!h1Activity.has(socket) && socket.bytesRead === 0) socket.destroy();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
