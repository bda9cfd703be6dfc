import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * Paths that must never reach a log line even if someone logs a whole request:
 * credentials, key material and payloads (see the security rules in the README).
 */
const REDACTED = [
  "token",
  "sessionToken",
  "authorization",
  "signature",
  "accountSignature",
  "serverSignature",
  "oldSignature",
  "newSignature",
  "nonce",
  "publicKey",
  "newPublicKey",
  "blob",
  "payload",
  "secret",
  // Web Push subscriptions: whoever knows the endpoint (and keys) can wake the device.
  "endpoint",
  "p256dh",
  "auth",
].flatMap((key) => [key, `*.${key}`]);

/** `destination` (default stdout) lets tests read what would be logged. */
export function createLogger(service: string, level = "info", destination?: DestinationStream): Logger {
  return pino({ name: service, level, redact: { paths: REDACTED, censor: "[redacted]" } }, destination);
}
