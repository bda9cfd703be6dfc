import type http from "node:http";
import type http2 from "node:http2";
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
const EXPOSED_HEADERS = cors.exposedHeaders.join(", ");

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
    options.connect(req, res);
  };
}
