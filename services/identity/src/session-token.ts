import { createHash, randomBytes } from "node:crypto";

/** 256 random bits, base64url: what the client holds. The database holds only its SHA-256. */
const TOKEN_BYTES = 32;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export function newSessionToken(): string {
  return randomBytes(TOKEN_BYTES).toString("base64url");
}

export function hashSessionToken(token: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash("sha256").update(token, "utf8").digest());
}

/** Anything else cannot be one of ours, so it is refused without a database lookup. */
export function isSessionTokenShaped(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}
