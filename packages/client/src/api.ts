import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ConnectionService } from "@seeme/contracts/connection";
import { GatewayService } from "@seeme/contracts/gateway";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService, PushService } from "@seeme/contracts/location";
import { abortableFetch } from "./abortable-fetch.js";
import { isNetworkFailure, withCause } from "./backoff.js";

/**
 * The gateway's public services. The transports come from `@connectrpc/connect-web`,
 * which uses `fetch` and so runs in browsers and in Node 20 alike; the Node-only
 * `@connectrpc/connect-node` is never imported by the SDK.
 */
export interface GatewayApi {
  gateway: Client<typeof GatewayService>;
  identity: Client<typeof IdentityService>;
  connection: Client<typeof ConnectionService>;
  location: Client<typeof LocationService>;
  push: Client<typeof PushService>;
}

export type GatewayProtocol = "connect" | "grpc-web";

export interface GatewayTransportOptions {
  /** Connect (default) or gRPC-web; the gateway serves both, with CORS for browsers. */
  protocol?: GatewayProtocol;
  interceptors?: Interceptor[];
  fetch?: typeof globalThis.fetch;
}

export function createGatewayTransport(baseUrl: string, options: GatewayTransportOptions = {}): Transport {
  const common = {
    baseUrl,
    useBinaryFormat: true,
    interceptors: [networkFailures, ...(options.interceptors ?? [])],
    fetch: abortableFetch(options.fetch),
  };
  return options.protocol === "grpc-web" ? createGrpcWebTransport(common) : createConnectTransport(common);
}

/**
 * A gateway that cannot be reached is `Unavailable` (retryable), with why it could not be reached
 * (refused, reset, DNS) in the message — never the `Unknown` "fetch failed" Connect makes of it.
 */
const networkFailures: Interceptor = (next) => async (request) => {
  try {
    return await next(request);
  } catch (error) {
    throw isNetworkFailure(error) ? withCause(error) : error;
  }
};

/** Adds `Authorization: Bearer <token>` whenever a session is held. */
export function bearerInterceptor(token: () => string | undefined): Interceptor {
  return (next) => (request) => {
    const value = token();
    if (value !== undefined) request.header.set("Authorization", `Bearer ${value}`);
    return next(request);
  };
}

export function createGatewayApi(transport: Transport): GatewayApi {
  return {
    gateway: createClient(GatewayService, transport),
    identity: createClient(IdentityService, transport),
    connection: createClient(ConnectionService, transport),
    location: createClient(LocationService, transport),
    push: createClient(PushService, transport),
  };
}
