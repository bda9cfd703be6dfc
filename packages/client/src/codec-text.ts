import { PrimaryType, TextMessageKind, isCodeOf } from "./codes.js";
import { decodePinBody } from "./codec-pin.js";
import { FixedWidthReader, formatFlag, invalidPayload, padNumber, parseFlag } from "./fixed-width.js";
import { cryptoRandom, randomAlphanumeric, type RandomSource } from "./random.js";
import { hasLoneSurrogate, splittableUnits, utf8Length } from "./utf8.js";

/**
 * SPEC §5 text payload, always exactly 128 UTF-8 bytes so packet size says nothing about the message:
 * `4` kind(1) sharing(1) parentPacketId(9) parentIsSender(1) part(2) of(2) padding `|` body.
 * The padding is random [A-Za-z0-9], so the first `|` after the 17-character header ends it;
 * the body itself may contain `|`.
 */
export const TEXT_PAYLOAD_BYTES = 128;
export const TEXT_HEADER_LENGTH = 17;
export const TEXT_BODY_MAX_BYTES = TEXT_PAYLOAD_BYTES - TEXT_HEADER_LENGTH - 1;
/** `part` and `of` are two digits. */
export const MAX_TEXT_PARTS = 99;
/** The parent packetID field is 9 digits (SPEC §5), narrower than a u32 packetID. */
export const MAX_PARENT_PACKET_ID = 999_999_999;

const SEPARATOR = "|";

/**
 * What every part of one message shares.
 * - `parentPacketId`: the message this one answers (reply), replaces (update), deletes (delete)
 *   or pins against; 0 when there is none. Parts of one message are sent with identical meta.
 * - `parentIsSender`: whether the parent was sent by this message's sender (packetIDs are per direction).
 * Body by kind: new/reply → the text; update → the full replacement text; delete → empty (the
 * parent fields name the message to delete); location pin → `encodePinBody(...)`.
 */
export interface TextMeta {
  kind: TextMessageKind;
  sharing: boolean;
  parentPacketId: number;
  parentIsSender: boolean;
}

export interface TextPart extends TextMeta {
  /** 1-based. */
  part: number;
  of: number;
  body: string;
}

export interface TextMessage extends TextMeta {
  message: string;
}

export function encodeTextPart(part: TextPart, random: RandomSource = cryptoRandom): string {
  assertMeta(part);
  if (!Number.isInteger(part.of) || part.of < 1 || part.of > MAX_TEXT_PARTS)
    throw invalidPayload(`text: of must be 1–${MAX_TEXT_PARTS}`);
  if (!Number.isInteger(part.part) || part.part < 1 || part.part > part.of)
    throw invalidPayload("text: part must be from 1 to of");
  if (hasLoneSurrogate(part.body)) throw invalidPayload("text: body holds a lone UTF-16 surrogate");
  const bodyBytes = utf8Length(part.body);
  if (bodyBytes > TEXT_BODY_MAX_BYTES)
    throw invalidPayload(`text: body is ${bodyBytes} bytes; one part holds at most ${TEXT_BODY_MAX_BYTES}`);
  const header =
    String(PrimaryType.TextMessage) +
    String(part.kind) +
    formatFlag(part.sharing) +
    padNumber(part.parentPacketId, 9) +
    formatFlag(part.parentIsSender) +
    padNumber(part.part, 2) +
    padNumber(part.of, 2);
  return header + randomAlphanumeric(TEXT_BODY_MAX_BYTES - bodyBytes, random) + SEPARATOR + part.body;
}

export function decodeTextPart(payload: string): TextPart {
  const bytes = utf8Length(payload);
  if (bytes !== TEXT_PAYLOAD_BYTES)
    throw invalidPayload(`text: must be ${TEXT_PAYLOAD_BYTES} UTF-8 bytes, got ${bytes}`);
  const reader = new FixedWidthReader(payload, "text");
  reader.take(1, "type", /^4$/, "4 (text message)");
  const kind = Number(reader.take(1, "kind", /^[1-5]$/, "a TextMessageKind code 1–5")) as TextMessageKind;
  const sharing = parseFlag(reader.take(1, "sharing", /^[01]$/, "0 or 1"));
  const parentPacketId = Number(reader.take(9, "parent packetID", /^\d{9}$/, "9 digits"));
  const parentIsSender = parseFlag(reader.take(1, "parent-is-sender", /^[01]$/, "0 or 1"));
  const part = Number(reader.take(2, "part", /^\d{2}$/, "2 digits"));
  const of = Number(reader.take(2, "of", /^\d{2}$/, "2 digits"));
  if (of < 1 || part < 1 || part > of) throw invalidPayload("text: part must be from 1 to of, and of at least 1");
  const rest = reader.rest();
  const separator = rest.indexOf(SEPARATOR);
  if (separator < 0) throw invalidPayload("text: no | between padding and body");
  return { kind, sharing, parentPacketId, parentIsSender, part, of, body: rest.slice(separator + 1) };
}

/** Cuts a message into encoded 128-byte text payloads (one per packet), never inside a character. */
export function splitText(message: string, meta: TextMeta, random: RandomSource = cryptoRandom): string[] {
  assertMeta(meta);
  assertBodyFitsKind(meta.kind, message);
  if (hasLoneSurrogate(message)) throw invalidPayload("text: message holds a lone UTF-16 surrogate");
  const bodies = chunkByBytes(message, TEXT_BODY_MAX_BYTES);
  if (bodies.length > MAX_TEXT_PARTS) {
    throw invalidPayload(
      `text: message needs ${bodies.length} parts; at most ${MAX_TEXT_PARTS} fit (${MAX_TEXT_PARTS * TEXT_BODY_MAX_BYTES} bytes)`,
    );
  }
  return bodies.map((body, index) => encodeTextPart({ ...meta, part: index + 1, of: bodies.length, body }, random));
}

/** Reassembles the parts of one message, in any order; refuses a missing, duplicate or mismatched part. */
export function joinText(payloads: readonly string[]): TextMessage {
  if (payloads.length === 0) throw invalidPayload("text: no parts to join");
  const parts = payloads.map(decodeTextPart).sort((a, b) => a.part - b.part);
  const [first] = parts;
  if (parts.length !== first.of) throw invalidPayload(`text: have ${parts.length} parts of ${first.of}`);
  parts.forEach((part, index) => {
    if (part.part !== index + 1) throw invalidPayload(`text: part ${index + 1} is missing or duplicated`);
    const sameMessage =
      part.of === first.of &&
      part.kind === first.kind &&
      part.sharing === first.sharing &&
      part.parentPacketId === first.parentPacketId &&
      part.parentIsSender === first.parentIsSender;
    if (!sameMessage) throw invalidPayload(`text: part ${part.part} belongs to a different message`);
  });
  const message = parts.map((part) => part.body).join("");
  assertBodyFitsKind(first.kind, message);
  const { kind, sharing, parentPacketId, parentIsSender } = first;
  return { kind, sharing, parentPacketId, parentIsSender, message };
}

function chunkByBytes(message: string, maxBytes: number): string[] {
  const chunks: string[] = [];
  let current = "";
  let currentBytes = 0;
  for (const unit of splittableUnits(message, maxBytes)) {
    const unitBytes = utf8Length(unit);
    if (currentBytes + unitBytes > maxBytes) {
      chunks.push(current);
      current = "";
      currentBytes = 0;
    }
    current += unit;
    currentBytes += unitBytes;
  }
  chunks.push(current);
  return chunks;
}

function assertMeta(meta: TextMeta): void {
  if (!isCodeOf(TextMessageKind, meta.kind)) throw invalidPayload("text: kind must be a TextMessageKind code 1–5");
  if (!Number.isInteger(meta.parentPacketId) || meta.parentPacketId < 0 || meta.parentPacketId > MAX_PARENT_PACKET_ID) {
    throw invalidPayload(`text: parentPacketId must be a whole number from 0 to ${MAX_PARENT_PACKET_ID}`);
  }
}

function assertBodyFitsKind(kind: TextMessageKind, message: string): void {
  if (kind === TextMessageKind.Delete && message !== "") throw invalidPayload("text: a delete carries no body");
  if (kind === TextMessageKind.LocationPin) decodePinBody(message);
}
