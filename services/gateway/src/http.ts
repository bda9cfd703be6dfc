import { RETRY_AFTER_HEADER } from "@seeme/runtime/admission";
import type http from "node:http";
import http2 from "node:http2";
import { cors } from "@connectrpc/connect";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import type { RequestHandler } from "./listener.js";

export interface HttpOptions {
  connect: RequestHandler;
  corsOrigins: string[];
  /** Failing dependencies; empty when healthy (readiness, /healthz). */
  unhealthy: () => string[];
  /** False once shutting down (liveness, /livez). */
  alive: () => boolean;
  /** Proxies in front of us that append to X-Forwarded-For. */
  trustedProxyHops: number;
  /** The web app's files (static.ts); answers false for what is not one of them. */
  web?: (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse & http2.Http2ServerResponse,
  ) => boolean;
  /** A request body must have fully arrived this long after its headers. */
  bodyTimeoutMs: number;
  /** Takes the HTTP/1.1 calls the raw relay serves itself (held Subscribe streams, relay.ts). */
  relay?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

/** Names the client's connection (HTTP/1.1 socket or HTTP/2 session) for per-connection limits; set here only. */
export const CONNECTION_ID_HEADER = "x-seeme-connection-id";

const connectionIds = new WeakMap<object, string>();
let nextConnectionId = 0;

function connectionId(req: http.IncomingMessage | http2.Http2ServerRequest): string {
  const connection: object = "stream" in req ? (req.stream.session ?? req.socket) : req.socket;
  let id = connectionIds.get(connection);
  if (id === undefined) {
    id = String(++nextConnectionId);
    connectionIds.set(connection, id);
  }
  return id;
}

/**
 * Cuts a request whose body is still arriving `timeoutMs` after its headers: a
 * sender that trickles a byte now and then would otherwise hold the request,
 * its buffers and its connection for ever (the idle timer sees an open request).
 */
function reapSlowBody(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
  timeoutMs: number,
): void {
  if (req.complete) return;
  const timer = setTimeout(() => {
    if (req.complete) return;
    // Http2ServerRequest.destroy() leaves the stream open: reset the stream itself.
    if ("stream" in req) req.stream.close(http2.constants.NGHTTP2_CANCEL);
    else req.socket.destroy();
  }, timeoutMs);
  timer.unref();
  const clear = () => clearTimeout(timer);
  req.once("end", clear);
  req.once("close", clear);
  res.once("close", clear);
}

/**
 * The client's address for rate limiting. Each trusted proxy appends the
 * address it received the request from, so with N of them the client is the
 * entry just before the last N hops; anything further left is what the client
 * itself claimed and is ignored.
 */
export function clientAddress(
  req: { headers: http.IncomingHttpHeaders; socket: { remoteAddress?: string } },
  trustedProxyHops: number,
): string {
  const socketAddress = req.socket.remoteAddress ?? "unknown";
  if (trustedProxyHops === 0) return socketAddress;
  const forwarded = String(req.headers["x-forwarded-for"] ?? "")
    .split(",")
    .map((hop) => hop.trim())
    .filter(Boolean);
  const chain = [...forwarded, socketAddress];
  return chain[Math.max(0, chain.length - 1 - trustedProxyHops)];
}

const ALLOWED_HEADERS = [...cors.allowedHeaders, "Authorization"].join(", ");
// retry-after-ms: the hint of a call refused by admission control, readable by browser clients.
const EXPOSED_HEADERS = [...cors.exposedHeaders, RETRY_AFTER_HEADER].join(", ");

/**
 * The gateway's HTTP front: /healthz, CORS for browsers, and hygiene before any
 * RPC runs — client-sent `x-seeme-*` headers are dropped (they carry identity
 * between services and must never come from outside) and the client address
 * is recorded for rate limiting.
 */
export function createHttpHandler(options: HttpOptions): RequestHandler {
  const anyOrigin = options.corsOrigins.includes("*");
  return (req, res) => {
    for (const name of Object.keys(req.headers)) if (name.startsWith("x-seeme-")) delete req.headers[name];
    req.headers[CLIENT_ADDRESS_HEADER] = clientAddress(req, options.trustedProxyHops);
    req.headers[CONNECTION_ID_HEADER] = connectionId(req);

    const response = res as http.ServerResponse & http2.Http2ServerResponse;
    if (req.url === "/livez" && (req.method === "GET" || req.method === "HEAD")) {
      response.writeHead(options.alive() ? 200 : 503).end();
      return;
    }
    if (req.url === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      const failing = options.unhealthy();
      response.writeHead(failing.length ? 503 : 200, { "content-type": "application/json" });
      response.end(JSON.stringify(failing.length ? { status: "NOT_SERVING", failing } : { status: "SERVING" }));
      return;
    }
    if (options.web?.(req, response)) return;

    const origin = req.headers.origin;
    if (typeof origin === "string" && (anyOrigin || options.corsOrigins.includes(origin))) {
      response.setHeader("access-control-allow-origin", anyOrigin ? "*" : origin);
      response.setHeader("vary", "Origin");
      response.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
      if (req.method === "OPTIONS") {
        response.writeHead(204, {
          "access-control-allow-methods": cors.allowedMethods.join(", "),
          "access-control-allow-headers": ALLOWED_HEADERS,
          "access-control-max-age": "7200",
        });
        response.end();
        return;
      }
    }
    // HTTP/2 calls the relay serves never reach here (listener.ts hands it their streams first).
    if (!("stream" in req) && options.relay?.(req, response)) return;
    reapSlowBody(req, res, options.bodyTimeoutMs);
    options.connect(req, res);
  };
}
