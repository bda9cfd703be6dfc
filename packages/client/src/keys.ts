import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { ClientError } from "./errors.js";
import { cryptoRandom, type RandomSource } from "./random.js";

/** Secret keys are the raw 32-byte seeds (RFC 8032 / RFC 7748); that is also the export format. */
export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export const KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

// ---- account key: one Ed25519 pair per device account; the server holds the public half.

export function generateAccountKeyPair(random: RandomSource = cryptoRandom): KeyPair {
  return importAccountKeyPair(random(KEY_LENGTH));
}

export function importAccountKeyPair(secretKey: Uint8Array): KeyPair {
  assertKeyLength(secretKey, "account secret key");
  return { secretKey: secretKey.slice(), publicKey: ed25519.getPublicKey(secretKey) };
}

export function exportAccountSecretKey(keyPair: KeyPair): Uint8Array {
  return keyPair.secretKey.slice();
}

export function importAccountPublicKey(publicKey: Uint8Array): Uint8Array {
  assertEd25519PublicKey(publicKey, "account public key");
  return publicKey.slice();
}

export function signWithAccountKey(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertKeyLength(secretKey, "account secret key");
  return ed25519.sign(message, secretKey);
}

/** Ed25519 with a connection signing key, outside the envelope (the bound-invite confirm). */
export function signWithConnectionKey(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  assertKeyLength(secretKey, "connection signing secret key");
  return ed25519.sign(message, secretKey);
}

/** Strict RFC 8032 verification; false (not a throw) for any signature that does not check out. */
export function verifyAccountSignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyEd25519(publicKey, message, signature);
}

// ---- connection keys: per connection, per side; the public halves travel only by QR code.

/** `signing` (Ed25519) signs what this side sends; `encryption` (X25519) receives what the peer seals to it. */
export interface ConnectionKeyPairs {
  signing: KeyPair;
  encryption: KeyPair;
}

export interface ConnectionPublicKeys {
  signingPublicKey: Uint8Array;
  encryptionPublicKey: Uint8Array;
}

export function generateConnectionKeyPairs(random: RandomSource = cryptoRandom): ConnectionKeyPairs {
  return importConnectionKeyPairs({ signingSecretKey: random(KEY_LENGTH), encryptionSecretKey: random(KEY_LENGTH) });
}

export function importConnectionKeyPairs(secrets: {
  signingSecretKey: Uint8Array;
  encryptionSecretKey: Uint8Array;
}): ConnectionKeyPairs {
  assertKeyLength(secrets.signingSecretKey, "connection signing secret key");
  assertKeyLength(secrets.encryptionSecretKey, "connection encryption secret key");
  return {
    signing: { secretKey: secrets.signingSecretKey.slice(), publicKey: ed25519.getPublicKey(secrets.signingSecretKey) },
    encryption: {
      secretKey: secrets.encryptionSecretKey.slice(),
      publicKey: x25519.getPublicKey(secrets.encryptionSecretKey),
    },
  };
}

export function exportConnectionSecretKeys(keys: ConnectionKeyPairs): {
  signingSecretKey: Uint8Array;
  encryptionSecretKey: Uint8Array;
} {
  return { signingSecretKey: keys.signing.secretKey.slice(), encryptionSecretKey: keys.encryption.secretKey.slice() };
}

export function connectionPublicKeys(keys: ConnectionKeyPairs): ConnectionPublicKeys {
  return { signingPublicKey: keys.signing.publicKey.slice(), encryptionPublicKey: keys.encryption.publicKey.slice() };
}

/** Checks a peer's public keys (e.g. just scanned) before anything is sealed to or verified with them. */
export function assertConnectionPublicKeys(keys: ConnectionPublicKeys): void {
  assertEd25519PublicKey(keys.signingPublicKey, "connection signing public key");
  assertX25519PublicKey(keys.encryptionPublicKey, "connection encryption public key");
}

// ---- shared helpers

export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

export function assertEd25519PublicKey(publicKey: Uint8Array, name: string): void {
  assertKeyLength(publicKey, name);
  if (!ed25519.utils.isValidPublicKey(publicKey, false))
    throw new ClientError("invalid-key", `${name} is not a valid Ed25519 point`);
}

/**
 * An X25519 key anything can be sealed to: a low-order point (all zeros, one,
 * the few others) makes every shared secret zero, so sealing to it fails (or
 * would be readable by anyone). Tried with a throwaway scalar: a usable key gives
 * a non-zero secret; @noble/curves already refuses the low-order ones.
 */
export function assertX25519PublicKey(publicKey: Uint8Array, name: string): void {
  assertKeyLength(publicKey, name);
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(cryptoRandom(KEY_LENGTH), publicKey);
  } catch {
    throw new ClientError("invalid-key", `${name} is a low-order X25519 point`);
  }
  if (shared.every((byte) => byte === 0)) throw new ClientError("invalid-key", `${name} is a low-order X25519 point`);
}

function assertKeyLength(key: Uint8Array, name: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LENGTH)
    throw new ClientError("invalid-key", `${name} must be ${KEY_LENGTH} bytes`);
}
