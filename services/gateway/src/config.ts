import { DEFAULT_TILE_ATTRIBUTION, DEFAULT_TILE_URL, DEFAULT_WEB_ROOT } from "./static.js";
import {
  configReader,
  readCommonConfig,
  readLiveStreamLimits,
  readSharedLimits,
  type CommonConfig,
  type Env,
  type LiveStreamLimits,
  type SharedLimits,
} from "@seeme/runtime/config";
import { readSessionVerifyKeys } from "@seeme/runtime/session-token";

export interface GatewayConfig extends CommonConfig, SharedLimits, LiveStreamLimits {
  port: number;
  host: string;
  identityAddr: string;
  connectionAddr: string;
  locationAddr: string;
  /** Browser origins allowed by CORS; ["*"] allows any. */
  corsOrigins: string[];
  /** Raw Ed25519 public keys whose session tokens are accepted (SESSION_VERIFY_KEYS). */
  sessionVerifyKeys: Uint8Array[];
  /** Deadline for forwarded unary calls (a shorter client deadline wins). */
  upstreamTimeoutMs: number;
  /** A connection with no open request or stream for this long is closed. */
  idleTimeoutMs: number;
  /** Proxies in front of the gateway that append to X-Forwarded-For (0: use the socket address). */
  trustedProxyHops: number;
  /** The built web app served at `/`, its map tiles and their attribution. */
  webRoot: string;
  tileUrl: string;
  tileAttribution: string;
  /** Body cap of every method but Sync (which is sized from the relay limits). */
  maxRequestBytes: number;
  /** A request whose body has not fully arrived this long after its headers is cut (slow-body senders). */
  bodyTimeoutMs: number;
  /**
   * HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS announced to every client. Work is bounded by admission
   * control, not by this: it only caps what one connection can hold. Node counts a stream against
   * it until the stream is destroyed, a moment after HTTP/2 closed it, so a client that keeps a
   * connection at the cap gets some new streams reset with ENHANCE_YOUR_CALM (which Connect's Node
   * client reports as Internal): at 100, 19–146 of ~15,000 calls under 3× overload
   * (docs/reliability.md). The default sits far above what admission lets a connection reach.
   */
  h2MaxConcurrentStreams: number;
  /** Unauthenticated streams (grpc.health.v1 Watch) one connection / one address may hold open. */
  publicStreamsPerConnection: number;
  publicStreamsPerAddress: number;
  /**
   * Sync and Subscribe pass to location undecoded (binary protocols; docs/hot-path.md).
   * false: decoded and re-encoded like every other method (the old path; for comparison).
   */
  forwardUndecoded: boolean;
  /**
   * gRPC calls to Sync are relayed to location as raw HTTP/2 streams, and Subscribe streams are
   * held by the gateway's live hub (relay.ts, held-streams.ts; docs/hot-path.md). false: every
   * call takes the Connect server path, which forwards Subscribe to location (for comparison).
   */
  rawRelay: boolean;
  /** How often quiet connections are probed (HTTP/2 PING, TCP keepalive). */
  keepaliveMs: number;
  /** An unanswered HTTP/2 PING ends the connection after this long. */
  keepaliveTimeoutMs: number;
}

export function loadConfig(env: Env): GatewayConfig {
  const read = configReader(env);
  return {
    ...readCommonConfig(env, 9100),
    ...readSharedLimits(env),
    ...readLiveStreamLimits(env),
    port: read.port("GATEWAY_PORT", 8080),
    host: read.string("GATEWAY_HOST", "0.0.0.0"),
    identityAddr: read.string("IDENTITY_ADDR", "127.0.0.1:50051"),
    connectionAddr: read.string("CONNECTION_ADDR", "127.0.0.1:50052"),
    locationAddr: read.string("LOCATION_ADDR", "127.0.0.1:50053"),
    corsOrigins: read
      .string("CORS_ORIGINS", "*")
      .split(",")
      .map((origin) => origin.trim())
      .filter(Boolean),
    sessionVerifyKeys: readSessionVerifyKeys(env),
    upstreamTimeoutMs: read.durationMs("UPSTREAM_TIMEOUT", "10s", { min: "100ms", max: "60s" }),
    idleTimeoutMs: read.durationMs("IDLE_TIMEOUT", "60s", { min: "1s", max: "1h" }),
    trustedProxyHops: read.int("TRUSTED_PROXY_HOPS", 0, { min: 0, max: 5 }),
    webRoot: read.string("WEB_ROOT", DEFAULT_WEB_ROOT),
    tileUrl: read.string("TILE_URL", DEFAULT_TILE_URL),
    tileAttribution: read.string("TILE_ATTRIBUTION", DEFAULT_TILE_ATTRIBUTION),
    maxRequestBytes: read.int("MAX_REQUEST_BYTES", 64 * 1024, { min: 1024, max: 16 * 1024 * 1024 }),
    bodyTimeoutMs: read.durationMs("BODY_TIMEOUT", "10s", { min: "100ms", max: "5m" }),
    h2MaxConcurrentStreams: read.int("H2_MAX_CONCURRENT_STREAMS", 1000, { min: 1, max: 10_000 }),
    publicStreamsPerConnection: read.int("PUBLIC_STREAMS_PER_CONNECTION", 4, { min: 1, max: 1000 }),
    publicStreamsPerAddress: read.int("PUBLIC_STREAMS_PER_ADDRESS", 32, { min: 1, max: 100_000 }),
    forwardUndecoded: read.bool("GATEWAY_FORWARD_UNDECODED", true),
    rawRelay: read.bool("GATEWAY_RAW_RELAY", true),
    keepaliveMs: read.durationMs("KEEPALIVE_INTERVAL", "30s", { min: "100ms", max: "10m" }),
    keepaliveTimeoutMs: read.durationMs("KEEPALIVE_TIMEOUT", "10s", { min: "100ms", max: "5m" }),
  };
}
