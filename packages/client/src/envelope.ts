import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes } from "@noble/hashes/utils.js";
import { ClientError } from "./errors.js";
import { KEY_LENGTH, SIGNATURE_LENGTH, verifyEd25519, type ConnectionKeyPairs, type ConnectionPublicKeys } from "./keys.js";
import { PAIR_ID_LENGTH, assertPairId } from "./pair-id.js";
import { assertPacketId, packetIdBytes } from "./packet-id.js";
import { cryptoRandom, type RandomSource } from "./random.js";
import { utf8Bytes } from "./utf8.js";

/*
 * Sign-then-encrypt (docs/envelope.md has the byte format and test vectors):
 *   signature = Ed25519(sender signing key, CONTEXT ‖ header ‖ recipient X25519 key ‖ recipient pairID ‖ sender pairID ‖ packetID ‖ payload)
 *   key       = HKDF-SHA256(X25519(ephemeral, recipient X25519 key), info = INFO ‖ ephemeral public ‖ recipient X25519 key)
 *   blob      = header ‖ XChaCha20-Poly1305(key, nonce, aad = header ‖ recipient pairID ‖ packetID)(sender pairID ‖ signature ‖ payload)
 *   header    = version ‖ ephemeral public ‖ nonce
 * Signing the recipient's identity stops a recipient re-sealing a signed payload to someone else
 * as if the sender had sent it to them; the AAD makes a blob re-addressed to another pairID or
 * replayed under another packetID fail before anything is parsed.
 */

export const ENVELOPE_VERSION = 1;
const EPHEMERAL_LENGTH = KEY_LENGTH;
const NONCE_LENGTH = 24;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + EPHEMERAL_LENGTH + NONCE_LENGTH;
/** Bytes a blob adds to its payload (177): keep payload ≤ MAX_BLOB_BYTES − this. */
export const ENVELOPE_OVERHEAD = HEADER_LENGTH + PAIR_ID_LENGTH + SIGNATURE_LENGTH + TAG_LENGTH;

const KEY_INFO = utf8Bytes("seeme/envelope/v1/key");
const SIGNATURE_CONTEXT = utf8Bytes("seeme/envelope/v1/signature");

export interface SealInput {
  senderKeys: ConnectionKeyPairs;
  recipientPublicKeys: ConnectionPublicKeys;
  senderPairId: string;
  recipientPairId: string;
  packetId: number;
  plaintext: Uint8Array;
  /** Only tests pass this, to reproduce the documented vectors. */
  random?: RandomSource;
}

export interface OpenInput {
  recipientKeys: ConnectionKeyPairs;
  senderPublicKeys: ConnectionPublicKeys;
  expectedSenderPairId: string;
  recipientPairId: string;
  packetId: number;
  blob: Uint8Array;
}

export function seal(input: SealInput): Uint8Array {
  assertPairId(input.senderPairId, "senderPairId");
  assertPairId(input.recipientPairId, "recipientPairId");
  assertPacketId(input.packetId);
  const random = input.random ?? cryptoRandom;
  const recipientKey = input.recipientPublicKeys.encryptionPublicKey;
  const ephemeralSecret = random(EPHEMERAL_LENGTH);
  const header = concatBytes(Uint8Array.of(ENVELOPE_VERSION), x25519.getPublicKey(ephemeralSecret), random(NONCE_LENGTH));
  let key: Uint8Array;
  try {
    key = deriveKey(ephemeralSecret, recipientKey, header, recipientKey);
  } catch {
    throw new ClientError("invalid-key", "recipient encryption public key is not a usable X25519 key");
  }
  ephemeralSecret.fill(0);
  const senderPairId = utf8Bytes(input.senderPairId);
  const signature = ed25519.sign(
    signedContent(header, recipientKey, input.recipientPairId, senderPairId, input.packetId, input.plaintext),
    input.senderKeys.signing.secretKey,
  );
  const aead = xchacha20poly1305(key, nonceOf(header), associatedData(header, input.recipientPairId, input.packetId));
  const ciphertext = aead.encrypt(concatBytes(senderPairId, signature, input.plaintext));
  key.fill(0);
  return concatBytes(header, ciphertext);
}

export function open(input: OpenInput): Uint8Array {
  assertPairId(input.expectedSenderPairId, "expectedSenderPairId");
  assertPairId(input.recipientPairId, "recipientPairId");
  assertPacketId(input.packetId);
  const { blob } = input;
  if (blob.length < ENVELOPE_OVERHEAD) throw new ClientError("envelope-malformed", `envelope is ${blob.length} bytes; at least ${ENVELOPE_OVERHEAD} expected`);
  if (blob[0] !== ENVELOPE_VERSION) throw new ClientError("envelope-version", `envelope version ${blob[0]} is not supported (this SDK reads ${ENVELOPE_VERSION})`);
  const header = blob.subarray(0, HEADER_LENGTH);
  const recipientKey = input.recipientKeys.encryption.publicKey;
  let key: Uint8Array;
  try {
    key = deriveKey(input.recipientKeys.encryption.secretKey, ephemeralPublicOf(header), header, recipientKey);
  } catch {
    throw new ClientError("envelope-unauthentic", "envelope is not authentic");
  }
  const inner = decrypt(key, header, associatedData(header, input.recipientPairId, input.packetId), blob.subarray(HEADER_LENGTH));
  key.fill(0);
  const senderPairId = inner.subarray(0, PAIR_ID_LENGTH);
  if (!equalBytes(senderPairId, utf8Bytes(input.expectedSenderPairId))) {
    throw new ClientError("envelope-sender-mismatch", "envelope was sent from a different pairID than expected");
  }
  const signature = inner.subarray(PAIR_ID_LENGTH, PAIR_ID_LENGTH + SIGNATURE_LENGTH);
  const payload = inner.slice(PAIR_ID_LENGTH + SIGNATURE_LENGTH);
  const content = signedContent(header, recipientKey, input.recipientPairId, senderPairId, input.packetId, payload);
  if (!verifyEd25519(input.senderPublicKeys.signingPublicKey, content, signature)) {
    throw new ClientError("envelope-unauthentic", "envelope is not authentic");
  }
  return payload;
}

/**
 * X25519 between the ephemeral and the recipient's key (the sender holds the ephemeral secret,
 * the recipient its own), then HKDF binding both public keys so the key belongs to this pair only.
 * noble refuses low-order points, whose shared secret would be all zeros.
 */
function deriveKey(secretKey: Uint8Array, peerPublicKey: Uint8Array, header: Uint8Array, recipientKey: Uint8Array): Uint8Array {
  const shared = x25519.getSharedSecret(secretKey, peerPublicKey);
  const key = hkdf(sha256, shared, undefined, concatBytes(KEY_INFO, ephemeralPublicOf(header), recipientKey), 32);
  shared.fill(0);
  return key;
}

function decrypt(key: Uint8Array, header: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  try {
    return xchacha20poly1305(key, nonceOf(header), aad).decrypt(ciphertext);
  } catch {
    throw new ClientError("envelope-unauthentic", "envelope is not authentic");
  }
}

function ephemeralPublicOf(header: Uint8Array): Uint8Array {
  return header.subarray(1, 1 + EPHEMERAL_LENGTH);
}

function nonceOf(header: Uint8Array): Uint8Array {
  return header.subarray(1 + EPHEMERAL_LENGTH, HEADER_LENGTH);
}

function associatedData(header: Uint8Array, recipientPairId: string, packetId: number): Uint8Array {
  return concatBytes(header, utf8Bytes(recipientPairId), packetIdBytes(packetId));
}

function signedContent(
  header: Uint8Array,
  recipientKey: Uint8Array,
  recipientPairId: string,
  senderPairId: Uint8Array,
  packetId: number,
  payload: Uint8Array,
): Uint8Array {
  return concatBytes(SIGNATURE_CONTEXT, header, recipientKey, utf8Bytes(recipientPairId), senderPairId, packetIdBytes(packetId), payload);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
