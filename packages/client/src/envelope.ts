import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { CipherSuite, HkdfSha256 } from "@hpke/core";
import { DhkemX25519HkdfSha256 } from "@hpke/dhkem-x25519";
import { ed25519 } from "@noble/curves/ed25519.js";
import { concatBytes } from "@noble/hashes/utils.js";
import { ClientError } from "./errors.js";
import {
  KEY_LENGTH,
  SIGNATURE_LENGTH,
  verifyEd25519,
  type ConnectionKeyPairs,
  type ConnectionPublicKeys,
} from "./keys.js";
import { PAIR_ID_LENGTH, assertPairId } from "./pair-id.js";
import { assertPacketId, packetIdBytes } from "./packet-id.js";
import type { RandomSource } from "./random.js";
import { utf8Bytes } from "./utf8.js";

/*
 * Envelope version 2 (docs/envelope.md has the byte format and test vectors): sign, then seal with
 * HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305:
 *   header    = flags ‖ sentAt (u64 BE Unix seconds) [‖ accuracy m (u16 BE)] [‖ battery % (u8)]
 *   signature = Ed25519(sender signing key, CONTEXT ‖ 0x02 ‖ enc ‖ recipient X25519 key ‖ recipient pairID
 *                       ‖ sender pairID ‖ packetID ‖ header ‖ payload)
 *   blob      = 0x02 ‖ enc ‖ HPKE.Seal(recipient X25519 key, info = INFO, aad = 0x02 ‖ recipient pairID ‖ packetID,
 *                                      sender pairID ‖ signature ‖ header ‖ payload)
 * The signature over the recipient's identity stops a recipient re-sealing a signed payload to someone
 * else as if it had been sent to them; the AAD makes a blob re-addressed to another pairID, or replayed
 * under another packetID, fail before anything is parsed. The send time sits inside, signed and sealed:
 * neither the relay nor anyone else can make an old location look new.
 */

export const ENVELOPE_VERSION = 2;
const ENC_LENGTH = KEY_LENGTH;
const TAG_LENGTH = 16;
const PREFIX_LENGTH = 1 + ENC_LENGTH;
/** flags (1) ‖ sentAt (8): the inner header without its optional fields. */
const HEADER_MIN_LENGTH = 9;
const FLAG_ACCURACY = 0x01;
const FLAG_BATTERY = 0x02;
/** Bytes a blob adds to its payload at least (162; 165 with accuracy and battery): keep payload ≤ MAX_BLOB_BYTES − this. */
export const ENVELOPE_OVERHEAD = PREFIX_LENGTH + PAIR_ID_LENGTH + SIGNATURE_LENGTH + HEADER_MIN_LENGTH + TAG_LENGTH;
export const MAX_ACCURACY_M = 0xffff;

const HPKE_INFO = utf8Bytes("seeme/envelope/v2");
const SIGNATURE_CONTEXT = utf8Bytes("seeme/envelope/v2/signature");

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Chacha20Poly1305(),
});

/** What the authenticated inner header says about a packet besides its payload. */
export interface PacketMeta {
  /** When the sender sealed it, Unix seconds. */
  sentAt: number;
  /** Location fixes only: the fix's accuracy radius in metres (0–65535). */
  accuracyM?: number;
  /** Location fixes only: the sender's battery level, 0–100 %. */
  batteryPercent?: number;
}

export interface SealInput extends Omit<PacketMeta, "sentAt"> {
  /** Unix seconds; default: now. */
  sentAt?: number;
  senderKeys: ConnectionKeyPairs;
  recipientPublicKeys: ConnectionPublicKeys;
  senderPairId: string;
  recipientPairId: string;
  packetId: number;
  plaintext: Uint8Array;
  /**
   * Only tests pass this, to reproduce the documented vectors: 32 bytes from it are the
   * input keying material of HPKE's DeriveKeyPair for the ephemeral key (`ekm`).
   */
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

export interface OpenedEnvelope extends PacketMeta {
  payload: Uint8Array;
}

export async function seal(input: SealInput): Promise<Uint8Array> {
  assertPairId(input.senderPairId, "senderPairId");
  assertPairId(input.recipientPairId, "recipientPairId");
  assertPacketId(input.packetId);
  const header = encodeHeader({ ...input, sentAt: input.sentAt ?? Math.floor(Date.now() / 1000) });
  const recipientKey = input.recipientPublicKeys.encryptionPublicKey;
  let enc: Uint8Array;
  let context: Awaited<ReturnType<typeof suite.createSenderContext>>;
  try {
    const recipientPublicKey = await suite.kem.importKey("raw", arrayBuffer(recipientKey), true);
    context = await suite.createSenderContext({ recipientPublicKey, info: HPKE_INFO, ekm: input.random?.(ENC_LENGTH) });
    enc = new Uint8Array(context.enc);
  } catch {
    // A malformed or low-order key: HPKE refuses the all-zero shared secret it would give.
    throw new ClientError("invalid-key", "recipient encryption public key is not a usable X25519 key");
  }
  const senderPairId = utf8Bytes(input.senderPairId);
  const signature = ed25519.sign(
    signedContent(enc, recipientKey, input.recipientPairId, senderPairId, input.packetId, header, input.plaintext),
    input.senderKeys.signing.secretKey,
  );
  const ciphertext = await context.seal(
    concatBytes(senderPairId, signature, header, input.plaintext),
    associatedData(input.recipientPairId, input.packetId),
  );
  return concatBytes(Uint8Array.of(ENVELOPE_VERSION), enc, new Uint8Array(ciphertext));
}

export async function open(input: OpenInput): Promise<OpenedEnvelope> {
  assertPairId(input.expectedSenderPairId, "expectedSenderPairId");
  assertPairId(input.recipientPairId, "recipientPairId");
  assertPacketId(input.packetId);
  const { blob } = input;
  if (blob.length > 0 && blob[0] !== ENVELOPE_VERSION) {
    const why =
      blob[0] === 1 ? "version 1 (the pre-HPKE format) is no longer accepted" : `version ${blob[0]} is not supported`;
    throw new ClientError("envelope-version", `envelope ${why}; this SDK reads version ${ENVELOPE_VERSION}`);
  }
  if (blob.length < ENVELOPE_OVERHEAD)
    throw new ClientError(
      "envelope-malformed",
      `envelope is ${blob.length} bytes; at least ${ENVELOPE_OVERHEAD} expected`,
    );
  const enc = blob.slice(1, PREFIX_LENGTH);
  let inner: Uint8Array;
  try {
    const recipientKey = await suite.kem.importKey("raw", arrayBuffer(input.recipientKeys.encryption.secretKey), false);
    const plaintext = await suite.open(
      { recipientKey, enc, info: HPKE_INFO },
      blob.slice(PREFIX_LENGTH),
      associatedData(input.recipientPairId, input.packetId),
    );
    inner = new Uint8Array(plaintext);
  } catch {
    throw new ClientError("envelope-unauthentic", "envelope is not authentic");
  }
  const senderPairId = inner.subarray(0, PAIR_ID_LENGTH);
  if (!equalBytes(senderPairId, utf8Bytes(input.expectedSenderPairId))) {
    throw new ClientError("envelope-sender-mismatch", "envelope was sent from a different pairID than expected");
  }
  const signature = inner.subarray(PAIR_ID_LENGTH, PAIR_ID_LENGTH + SIGNATURE_LENGTH);
  const rest = inner.subarray(PAIR_ID_LENGTH + SIGNATURE_LENGTH);
  const { meta, length } = decodeHeader(rest);
  const header = rest.subarray(0, length);
  const payload = rest.slice(length);
  const content = signedContent(
    enc,
    input.recipientKeys.encryption.publicKey,
    input.recipientPairId,
    senderPairId,
    input.packetId,
    header,
    payload,
  );
  if (!verifyEd25519(input.senderPublicKeys.signingPublicKey, content, signature)) {
    throw new ClientError("envelope-unauthentic", "envelope is not authentic");
  }
  return { payload, ...meta };
}

function encodeHeader(meta: PacketMeta): Uint8Array {
  if (!Number.isSafeInteger(meta.sentAt) || meta.sentAt < 0)
    throw new ClientError("invalid-payload", "sentAt must be whole Unix seconds, not negative");
  let flags = 0;
  const optional: number[] = [];
  if (meta.accuracyM !== undefined) {
    if (!Number.isInteger(meta.accuracyM) || meta.accuracyM < 0 || meta.accuracyM > MAX_ACCURACY_M) {
      throw new ClientError("invalid-payload", `accuracy must be whole metres from 0 to ${MAX_ACCURACY_M}`);
    }
    flags |= FLAG_ACCURACY;
    optional.push(meta.accuracyM >> 8, meta.accuracyM & 0xff);
  }
  if (meta.batteryPercent !== undefined) {
    if (!Number.isInteger(meta.batteryPercent) || meta.batteryPercent < 0 || meta.batteryPercent > 100) {
      throw new ClientError("invalid-payload", "battery must be a whole percentage from 0 to 100");
    }
    flags |= FLAG_BATTERY;
    optional.push(meta.batteryPercent);
  }
  const fixed = new Uint8Array(HEADER_MIN_LENGTH);
  fixed[0] = flags;
  new DataView(fixed.buffer).setBigUint64(1, BigInt(meta.sentAt), false);
  return concatBytes(fixed, Uint8Array.from(optional));
}

/** Reads the inner header; only reached for authentic plaintext, but still checked (a buggy sender). */
function decodeHeader(bytes: Uint8Array): { meta: PacketMeta; length: number } {
  const malformed = () => new ClientError("envelope-malformed", "envelope inner header is malformed");
  if (bytes.length < HEADER_MIN_LENGTH) throw malformed();
  const flags = bytes[0];
  if ((flags & ~(FLAG_ACCURACY | FLAG_BATTERY)) !== 0) throw malformed();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sentAt = view.getBigUint64(1, false);
  if (sentAt > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed();
  const meta: PacketMeta = { sentAt: Number(sentAt) };
  let at = HEADER_MIN_LENGTH;
  if (flags & FLAG_ACCURACY) {
    if (bytes.length < at + 2) throw malformed();
    meta.accuracyM = view.getUint16(at, false);
    at += 2;
  }
  if (flags & FLAG_BATTERY) {
    if (bytes.length < at + 1 || bytes[at] > 100) throw malformed();
    meta.batteryPercent = bytes[at];
    at += 1;
  }
  return { meta, length: at };
}

function associatedData(recipientPairId: string, packetId: number): Uint8Array {
  return concatBytes(Uint8Array.of(ENVELOPE_VERSION), utf8Bytes(recipientPairId), packetIdBytes(packetId));
}

function signedContent(
  enc: Uint8Array,
  recipientKey: Uint8Array,
  recipientPairId: string,
  senderPairId: Uint8Array,
  packetId: number,
  header: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  return concatBytes(
    SIGNATURE_CONTEXT,
    Uint8Array.of(ENVELOPE_VERSION),
    enc,
    recipientKey,
    utf8Bytes(recipientPairId),
    senderPairId,
    packetIdBytes(packetId),
    header,
    payload,
  );
}

/** WebCrypto-style imports take an ArrayBuffer; a copy also keeps a view's neighbours out. */
function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
