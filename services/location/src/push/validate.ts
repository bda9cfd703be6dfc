import { createPublicKey } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { RegisterPushSubscriptionRequest } from "@seeme/contracts/location";
import { endpointAllowed, type PushConfig } from "./config.js";

// Browsers' endpoints are a few hundred characters; this bounds what a client can make us store.
const MAX_ENDPOINT_LENGTH = 2048;

const invalid = (message: string) => new ConnectError(message, Code.InvalidArgument);

function base64url(value: string, length: number, field: string): Buffer {
  const bytes = /^[A-Za-z0-9_-]+={0,2}$/.test(value) ? Buffer.from(value, "base64url") : Buffer.alloc(0);
  if (bytes.length !== length) throw invalid(`${field} must be ${length} bytes, base64url`);
  return bytes;
}

/** The endpoint is checked but never echoed in an error: it is a secret. */
export function checkEndpoint(endpoint: string, config: PushConfig): string {
  if (
    endpoint.length === 0 ||
    endpoint.length > MAX_ENDPOINT_LENGTH ||
    !endpointAllowed(endpoint, config.allowedOrigins)
  ) {
    throw invalid(`endpoint must be an https URL of a known push service (at most ${MAX_ENDPOINT_LENGTH} characters)`);
  }
  return endpoint;
}

/** A browser PushSubscription: allowed endpoint, a P-256 point (p256dh) and a 16-byte auth secret. */
export function checkRegistration(
  req: RegisterPushSubscriptionRequest,
  config: PushConfig,
): { endpoint: string; p256dh: string; auth: string } {
  const endpoint = checkEndpoint(req.endpoint, config);
  const point = base64url(req.p256dh, 65, "p256dh");
  try {
    if (point[0] !== 4) throw new Error("compressed");
    const jwk = {
      kty: "EC",
      crv: "P-256",
      x: point.subarray(1, 33).toString("base64url"),
      y: point.subarray(33).toString("base64url"),
    };
    createPublicKey({ key: jwk, format: "jwk" });
  } catch {
    throw invalid("p256dh must be an uncompressed P-256 public key");
  }
  base64url(req.auth, 16, "auth");
  return {
    endpoint,
    p256dh: point.toString("base64url"),
    auth: Buffer.from(req.auth, "base64url").toString("base64url"),
  };
}
