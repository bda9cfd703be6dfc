import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes } from "@noble/hashes/utils.js";
import { base32nopad } from "@scure/base";
import { ClientError, type ClientErrorReason } from "./errors.js";
import { KEY_LENGTH, SIGNATURE_LENGTH, assertConnectionPublicKeys, type ConnectionPublicKeys } from "./keys.js";
import { PAIR_ID_LENGTH, assertPairId, isPairId } from "./pair-id.js";
import { utf8Bytes } from "./utf8.js";

/*
 * QR text payloads: `SEEME1:<kind>:<body>:<check>`.
 * - kind `C` (connection card): body = signing public key (32) ‖ encryption public key (32) ‖ pairID (40 ASCII).
 * - kind `I` (invite): body = server signature (64) ‖ sender pairID (40) ‖ recipient pairID (40).
 * - body is unpadded RFC 4648 base32 and check is base32 of the first 5 bytes of SHA-256 over
 *   `SEEME1:<kind>:<body>`. Everything is upper case, digits and `:`, which QR codes store in
 *   their compact alphanumeric mode (5.5 bits a character instead of 8 for base64url).
 */

export const QR_VERSION = "SEEME1";
const PREFIX_PATTERN = /^SEEME(\d+):/;
const CHECK_BYTES = 5;
const CHECK_LENGTH = 8;

export interface ConnectionCard {
  /** Where the peer sends to reach me on this connection. */
  pairId: string;
  publicKeys: ConnectionPublicKeys;
}

/** What A shows B after the server accepted A's invite, so B can confirm it. */
export interface InviteCard {
  senderPairId: string;
  recipientPairId: string;
  serverSignature: Uint8Array;
}

export type QrPayload = ({ kind: "connection" } & ConnectionCard) | ({ kind: "invite" } & InviteCard);

const CONNECTION_BODY_LENGTH = 2 * KEY_LENGTH + PAIR_ID_LENGTH;
const INVITE_BODY_LENGTH = SIGNATURE_LENGTH + 2 * PAIR_ID_LENGTH;

export function encodeConnectionQr(card: ConnectionCard): string {
  assertPairId(card.pairId, "pairId");
  assertConnectionPublicKeys(card.publicKeys);
  return withCheck(
    "C",
    concatBytes(card.publicKeys.signingPublicKey, card.publicKeys.encryptionPublicKey, utf8Bytes(card.pairId)),
  );
}

export function encodeInviteQr(card: InviteCard): string {
  assertPairId(card.senderPairId, "senderPairId");
  assertPairId(card.recipientPairId, "recipientPairId");
  if (card.serverSignature.length !== SIGNATURE_LENGTH)
    throw new ClientError("invalid-key", `serverSignature must be ${SIGNATURE_LENGTH} bytes`);
  return withCheck(
    "I",
    concatBytes(card.serverSignature, utf8Bytes(card.senderPairId), utf8Bytes(card.recipientPairId)),
  );
}

/** Reads any see-me QR payload; every failure names what is wrong (see the `qr-*` reasons). */
export function decodeQr(scanned: string): QrPayload {
  const text = scanned.trim();
  const version = PREFIX_PATTERN.exec(text);
  if (!version) throw qrError("qr-foreign", "not a see-me code");
  if (`SEEME${version[1]}` !== QR_VERSION)
    throw qrError("qr-version", `code is version ${version[1]}; this app reads version 1`);
  const fields = text.split(":");
  if (fields.length < 4 || fields[3].length < CHECK_LENGTH)
    throw qrError("qr-truncated", "code is incomplete (was it cut off?)");
  if (fields.length > 4 || fields[3].length > CHECK_LENGTH) throw qrError("qr-malformed", "code has extra characters");
  const [, kind, body, check] = fields;
  if (kind !== "C" && kind !== "I") throw qrError("qr-kind", "unknown kind of see-me code");
  if (check !== checksum(`${QR_VERSION}:${kind}:${body}`))
    throw qrError("qr-checksum", "code checksum does not match (misread or altered)");
  const bytes = decodeBody(body);
  return kind === "C" ? readConnectionBody(bytes) : readInviteBody(bytes);
}

export function decodeConnectionQr(scanned: string): ConnectionCard {
  const payload = decodeQr(scanned);
  if (payload.kind !== "connection") throw qrError("qr-kind", "this is an invite code; a connection code was expected");
  return { pairId: payload.pairId, publicKeys: payload.publicKeys };
}

/**
 * `expected` lets B check the invite is for this connection: A's pairID (from A's connection
 * code) as sender and B's own pairID as recipient.
 */
export function decodeInviteQr(
  scanned: string,
  expected?: { senderPairId: string; recipientPairId: string },
): InviteCard {
  const payload = decodeQr(scanned);
  if (payload.kind !== "invite") throw qrError("qr-kind", "this is a connection code; an invite code was expected");
  const { senderPairId, recipientPairId, serverSignature } = payload;
  if (expected && (expected.senderPairId !== senderPairId || expected.recipientPairId !== recipientPairId)) {
    throw qrError("qr-mismatch", "this invite is for a different connection");
  }
  return { senderPairId, recipientPairId, serverSignature };
}

function withCheck(kind: "C" | "I", body: Uint8Array): string {
  const unchecked = `${QR_VERSION}:${kind}:${base32nopad.encode(body)}`;
  return `${unchecked}:${checksum(unchecked)}`;
}

function checksum(text: string): string {
  return base32nopad.encode(sha256(utf8Bytes(text)).subarray(0, CHECK_BYTES));
}

function decodeBody(body: string): Uint8Array {
  try {
    return base32nopad.decode(body);
  } catch {
    throw qrError("qr-malformed", "code body is not valid base32");
  }
}

function readConnectionBody(bytes: Uint8Array): QrPayload {
  if (bytes.length !== CONNECTION_BODY_LENGTH)
    throw qrError("qr-malformed", `connection code holds ${bytes.length} bytes, not ${CONNECTION_BODY_LENGTH}`);
  const publicKeys = {
    signingPublicKey: bytes.slice(0, KEY_LENGTH),
    encryptionPublicKey: bytes.slice(KEY_LENGTH, 2 * KEY_LENGTH),
  };
  const pairId = ascii(bytes.subarray(2 * KEY_LENGTH));
  if (!isPairId(pairId)) throw qrError("qr-malformed", "connection code holds an invalid pairID");
  try {
    assertConnectionPublicKeys(publicKeys);
  } catch {
    throw qrError("qr-malformed", "connection code holds an invalid public key");
  }
  return { kind: "connection", pairId, publicKeys };
}

function readInviteBody(bytes: Uint8Array): QrPayload {
  if (bytes.length !== INVITE_BODY_LENGTH)
    throw qrError("qr-malformed", `invite code holds ${bytes.length} bytes, not ${INVITE_BODY_LENGTH}`);
  const senderPairId = ascii(bytes.subarray(SIGNATURE_LENGTH, SIGNATURE_LENGTH + PAIR_ID_LENGTH));
  const recipientPairId = ascii(bytes.subarray(SIGNATURE_LENGTH + PAIR_ID_LENGTH));
  if (!isPairId(senderPairId) || !isPairId(recipientPairId))
    throw qrError("qr-malformed", "invite code holds an invalid pairID");
  return { kind: "invite", senderPairId, recipientPairId, serverSignature: bytes.slice(0, SIGNATURE_LENGTH) };
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function qrError(reason: ClientErrorReason, message: string): ClientError {
  return new ClientError(reason, message);
}
