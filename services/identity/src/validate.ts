import { ed25519 } from "@noble/curves/ed25519.js";
import { invalid } from "@seeme/runtime/errors";

/**
 * Input checks shared by the RPCs. Each throws InvalidArgument naming the field,
 * before anything touches the database.
 */
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 32;
/** VerifySignature payloads are small signed records (connection invites), never blobs. */
export const MAX_SIGNED_PAYLOAD_BYTES = 4096;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A raw 32-byte Ed25519 key that decodes canonically to a point outside the small-order subgroup. */
export function requirePublicKey(field: string, key: Uint8Array): Uint8Array {
  if (key.length !== PUBLIC_KEY_BYTES) {
    throw invalid(`${field} must be a raw ${PUBLIC_KEY_BYTES}-byte Ed25519 public key, got ${key.length} bytes`);
  }
  let weak: boolean;
  try {
    weak = ed25519.Point.fromBytes(key, false).isSmallOrder();
  } catch {
    throw invalid(`${field} is not a valid Ed25519 public key encoding`);
  }
  // Small-order keys verify signatures that prove nothing about a private key.
  if (weak) throw invalid(`${field} is a weak (small-order) Ed25519 key`);
  return key;
}

export function requireSignature(field: string, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_BYTES) {
    throw invalid(`${field} must be a ${SIGNATURE_BYTES}-byte Ed25519 signature, got ${signature.length} bytes`);
  }
  return signature;
}

export function requireNonce(nonce: Uint8Array): Uint8Array {
  if (nonce.length !== NONCE_BYTES) throw invalid(`nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`);
  return nonce;
}

export function isAccountId(id: string): boolean {
  return UUID.test(id);
}

export function requireAccountId(id: string): string {
  if (id === "") throw invalid("account_id is required");
  if (!isAccountId(id)) throw invalid("account_id must be a lowercase UUID");
  return id;
}

/** Strict RFC 8032 verification (no ZIP-215 leniency); malformed signatures are simply invalid. */
export function verifySignature(publicKey: Uint8Array, payload: Uint8Array, signature: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, payload, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
