/**
 * Environment configuration, validated once at start-up. Every reader throws a
 * ConfigError whose message is one line naming the variable, so a bad value
 * stops the process with an actionable message instead of a stack trace.
 */
import type { AdmissionLimits } from "./admission.js";

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable} ${problem}`);
    this.name = "ConfigError";
  }
}

/** A listen port is taken: the message names the variable that moves it. */
export class PortInUseError extends Error {
  constructor(
    readonly variable: string,
    readonly port: number,
  ) {
    super(`${variable} ${port} is in use: set ${variable} to a free port`);
    this.name = "PortInUseError";
  }
}

/** Node's EADDRINUSE, also when grpc-js wraps it in a message. */
export function isAddressInUse(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === "EADDRINUSE" || (typeof message === "string" && /EADDRINUSE|address already in use/i.test(message));
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "500ms", "30s", "15m", "24h", "7d" to milliseconds; null when malformed. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  return match ? Number(match[1]) * DURATION_UNITS_MS[match[2]] : null;
}

export interface ConfigReader {
  string(name: string, fallback?: string): string;
  optional(name: string): string | undefined;
  int(name: string, fallback: number, range?: { min?: number; max?: number }): number;
  port(name: string, fallback: number): number;
  durationMs(name: string, fallback: string, range?: { min?: string; max?: string }): number;
  secret(name: string, minLength: number, fallback?: string): string;
  url(name: string, fallback: string | undefined, protocols: string[]): string;
  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T;
  bool(name: string, fallback: boolean): boolean;
}

export function configReader(env: Env): ConfigReader {
  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  const required = (name: string, fallback?: string): string => {
    const value = raw(name) ?? fallback;
    if (value === undefined) throw new ConfigError(name, "is required but not set");
    return value;
  };
  const int = (name: string, fallback: number, range: { min?: number; max?: number } = {}): number => {
    const text = raw(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
    if (!/^-?\d+$/.test(text) || value < min || value > max) {
      throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${text}"`);
    }
    return value;
  };
  return {
    string: required,
    optional: raw,
    int,
    port: (name, fallback) => int(name, fallback, { min: 0, max: 65535 }),
    durationMs(name, fallback, range = {}) {
      const text = raw(name) ?? fallback;
      const value = parseDuration(text);
      if (value === null) throw new ConfigError(name, `must be a duration like 30s, 15m or 24h, got "${text}"`);
      const min = range.min ? parseDuration(range.min)! : 0;
      const max = range.max ? parseDuration(range.max)! : Number.MAX_SAFE_INTEGER;
      if (value < min || value > max) {
        throw new ConfigError(
          name,
          `must be between ${range.min ?? "0s"} and ${range.max ?? "unbounded"}, got "${text}"`,
        );
      }
      return value;
    },
    secret(name, minLength, fallback) {
      const value = required(name, fallback);
      if (value.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters long`);
      return value;
    },
    url(name, fallback, protocols) {
      const text = required(name, fallback);
      let parsed: URL;
      try {
        parsed = new URL(text);
      } catch {
        throw new ConfigError(name, `must be a URL (${protocols.join(", ")}), got a malformed value`);
      }
      if (!protocols.includes(parsed.protocol.replace(/:$/, ""))) {
        throw new ConfigError(name, `must use ${protocols.join(" or ")}, got "${parsed.protocol}"`);
      }
      return text;
    },
    oneOf(name, fallback, allowed) {
      const text = (raw(name) ?? fallback) as (typeof allowed)[number];
      if (!allowed.includes(text)) throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${text}"`);
      return text;
    },
    bool(name, fallback) {
      const text = raw(name)?.toLowerCase();
      if (text === undefined) return fallback;
      if (["true", "1", "yes", "on"].includes(text)) return true;
      if (["false", "0", "no", "off"].includes(text)) return false;
      throw new ConfigError(name, `must be true or false, got "${raw(name)}"`);
    },
  };
}

/** Settings every service reads the same way. */
export interface CommonConfig {
  logLevel: string;
  natsUrl: string;
  natsPrefix: string;
  natsStreamReplicas: number;
  internalAuthSecret: string;
  /** undefined when METRICS_PORT=0 (disabled). */
  metricsPort?: number;
  shutdownTimeoutMs: number;
  healthIntervalMs: number;
  /** Apply pending migrations at start (MIGRATE_ON_START; undefined = true). Off where a Job migrates. */
  migrateOnStart?: boolean;
  /**
   * Address the internal gRPC and metrics servers listen on (BIND_HOST): 127.0.0.1 unless
   * NODE_ENV=production, so a development machine exposes nothing; undefined = 0.0.0.0.
   */
  bindHost?: string;
  /** Bound on the unary calls worked on at once (admission.ts); health checks and streams are not counted. */
  admission: AdmissionLimits;
}

/** BIND_HOST's default: loopback in development, every interface in production (pods are reached on their IP). */
function defaultBindHost(env: Env): string {
  return env.NODE_ENV === "production" ? "0.0.0.0" : "127.0.0.1";
}

export function readCommonConfig(env: Env, metricsPortDefault: number): CommonConfig {
  const read = configReader(env);
  return {
    logLevel: read.oneOf("LOG_LEVEL", "info", ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const),
    natsUrl: read.url("NATS_URL", "nats://127.0.0.1:4222", ["nats", "tls"]),
    natsPrefix: read.optional("NATS_SUBJECT_PREFIX") ?? "",
    natsStreamReplicas: read.int("NATS_STREAM_REPLICAS", 1, { min: 1, max: 5 }),
    internalAuthSecret: read.secret("INTERNAL_AUTH_SECRET", 32),
    metricsPort: read.port("METRICS_PORT", metricsPortDefault) || undefined,
    shutdownTimeoutMs: read.int("SHUTDOWN_TIMEOUT_MS", 8000, { min: 0, max: 120_000 }),
    healthIntervalMs: read.int("HEALTH_INTERVAL_MS", 2000, { min: 100, max: 60_000 }),
    migrateOnStart: read.bool("MIGRATE_ON_START", true),
    bindHost: read.string("BIND_HOST", defaultBindHost(env)),
    admission: readAdmissionLimits(env),
  };
}

/**
 * Defaults (docs/reliability.md): the limit adapts between 2 and 64 calls at
 * once to keep a call's time in the process near 250 ms; 64 more may wait up
 * to 100 ms for a slot, which smooths bursts. Together they keep admitted
 * calls well inside a 1 s budget whatever the machine's speed.
 */
export function readAdmissionLimits(env: Env): AdmissionLimits {
  const read = configReader(env);
  const maxInFlight = read.int("ADMISSION_MAX_IN_FLIGHT", 64, { min: 1, max: 100_000 });
  return {
    maxInFlight,
    minInFlight: read.int("ADMISSION_MIN_IN_FLIGHT", Math.min(2, maxInFlight), { min: 1, max: maxInFlight }),
    targetLatencyMs: read.durationMs("ADMISSION_TARGET_LATENCY", "250ms", { min: "1ms", max: "60s" }),
    maxQueue: read.int("ADMISSION_MAX_QUEUE", 64, { min: 0, max: 100_000 }),
    maxWaitMs: read.durationMs("ADMISSION_MAX_WAIT", "100ms", { max: "10s" }),
  };
}

/**
 * Settings more than one service must agree on: the relay enforces them and the
 * gateway advertises them (GetServerInfo), so both read them here, once.
 */
export interface SharedLimits {
  maxBlobBytes: number;
  maxPacketsPerSync: number;
  inviteTtlMs: number;
}

/** Subscribe streams, held by location and (for devices on HTTP/2) by the gateway: both read them here. */
export interface LiveStreamLimits {
  /** How often open Subscribe streams re-read their backlog while NATS is unreachable (only then). */
  subscribePollMs: number;
  /** Concurrent Subscribe streams one account may hold on one process. */
  subscribeMaxStreamsPerAccount: number;
}

export function readLiveStreamLimits(env: Env): LiveStreamLimits {
  const read = configReader(env);
  return {
    subscribePollMs: read.durationMs("SUBSCRIBE_POLL_INTERVAL", "5s", { min: "10ms", max: "1h" }),
    subscribeMaxStreamsPerAccount: read.int("SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT", 8, { min: 1, max: 1000 }),
  };
}

export function readSharedLimits(env: Env): SharedLimits {
  const read = configReader(env);
  return {
    maxBlobBytes: read.int("MAX_BLOB_BYTES", 4096, { min: 1, max: 65_536 }),
    maxPacketsPerSync: read.int("MAX_PACKETS_PER_SYNC", 500, { min: 1, max: 5000 }),
    inviteTtlMs: read.durationMs("INVITE_TTL", "15m", { min: "10s", max: "7d" }),
  };
}
