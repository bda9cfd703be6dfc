import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Paths that must never reach a log line even if someone logs a whole request:
 * credentials, key material and payloads (see the security rules in the README).
 */
const REDACTED = [
  "token", "sessionToken", "authorization", "signature", "accountSignature", "serverSignature",
  "oldSignature", "newSignature", "nonce", "publicKey", "newPublicKey", "blob", "payload", "secret",
].flatMap((key) => [key, `*.${key}`]);

export function createLogger(service: string, level = "info"): Logger {
  return pino({ name: service, level, redact: { paths: REDACTED, censor: "[redacted]" } });
}
