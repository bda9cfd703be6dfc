import { ConfigError, configReader, type Env } from "@seeme/runtime/config";

/** Web Push (push/): the VAPID identity and where and how often wake-ups may go. */
export interface PushConfig {
  /** VAPID (RFC 8292) key pair, base64url: the public key is an uncompressed P-256 point, the private one a scalar. */
  vapidPublicKey: string;
  vapidPrivateKey: string;
  /** `mailto:` or `https:` contact the push services may use to reach the operator. */
  vapidSubject: string;
  /**
   * Origins a subscription endpoint may point at (scheme://host, `*.` for any
   * subdomain, any port). The server POSTs to endpoints clients hand it, so
   * without this list a client could aim the relay at internal addresses.
   */
  allowedOrigins: string[];
  /** At most one normal (non-urgent) wake-up per subscription per window. */
  coalesceMs: number;
  /** How often wake-ups held back by the window are looked for. */
  flushIntervalMs: number;
  /** How long a push service keeps an undelivered wake-up. */
  ttlSeconds: number;
  /** How long an account found without a subscription is not asked about again (0: always asked). */
  absentCacheMs: number;
}

// The push services of Chrome/Edge (FCM), Firefox (Mozilla autopush), Safari (Apple) and Windows (WNS).
const DEFAULT_ORIGINS =
  "https://fcm.googleapis.com,https://*.push.services.mozilla.com,https://*.push.apple.com,https://*.notify.windows.com";

function base64urlBytes(name: string, value: string, length: number, what: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(value) || Buffer.from(value, "base64url").length !== length) {
    throw new ConfigError(name, `must be ${what} (${length} bytes, base64url)`);
  }
  return value;
}

/** Undefined (push off) when no VAPID variable is set; all three are needed otherwise. */
export function readPushConfig(env: Env): PushConfig | undefined {
  const read = configReader(env);
  const names = ["VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY", "VAPID_SUBJECT"] as const;
  if (names.every((name) => read.optional(name) === undefined)) return undefined;
  const publicKey = base64urlBytes(names[0], read.string(names[0]), 65, "an uncompressed P-256 public key");
  if (Buffer.from(publicKey, "base64url")[0] !== 4)
    throw new ConfigError(names[0], "must be an uncompressed P-256 point (starting with 0x04)");
  const subject = read.string(names[2]);
  if (!/^(mailto:.+|https:\/\/.+)$/.test(subject))
    throw new ConfigError(names[2], `must be a mailto: or https: URL, got "${subject}"`);
  const allowedOrigins = read
    .string("PUSH_ALLOWED_ORIGINS", DEFAULT_ORIGINS)
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of allowedOrigins) {
    if (!/^https?:\/\/(\*\.)?[A-Za-z0-9.-]+$/.test(origin)) {
      throw new ConfigError(
        "PUSH_ALLOWED_ORIGINS",
        `entries must look like https://host or https://*.domain, got "${origin}"`,
      );
    }
  }
  return {
    vapidPublicKey: publicKey,
    vapidPrivateKey: base64urlBytes(names[1], read.string(names[1]), 32, "a P-256 private key"),
    vapidSubject: subject,
    allowedOrigins,
    coalesceMs: read.durationMs("PUSH_COALESCE_WINDOW", "1m", { min: "1s", max: "1h" }),
    flushIntervalMs: read.durationMs("PUSH_FLUSH_INTERVAL", "5s", { min: "10ms", max: "1m" }),
    ttlSeconds: read.durationMs("PUSH_TTL", "1d", { min: "1m", max: "28d" }) / 1000,
    absentCacheMs: read.durationMs("PUSH_ABSENT_CACHE", "5s", { min: "0s", max: "1m" }),
  };
}

/** True when `endpoint` is an absolute URL on one of `allowedOrigins` (scheme and host; any port). */
export function endpointAllowed(endpoint: string, allowedOrigins: string[]): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  return allowedOrigins.some((origin) => {
    const [scheme, host] = origin.split("://");
    if (url.protocol !== `${scheme}:`) return false;
    const hostname = url.hostname.toLowerCase();
    return host.startsWith("*.") ? hostname.endsWith(host.slice(1).toLowerCase()) : hostname === host.toLowerCase();
  });
}
