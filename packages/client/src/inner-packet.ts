import { PrimaryType } from "./codes.js";
import { decodeLocation, type LocationUpdate } from "./codec-location.js";
import { decodeStatus, type SimpleStatusUpdate } from "./codec-status.js";
import { decodeTextPart, type TextPart } from "./codec-text.js";
import { invalidPayload } from "./fixed-width.js";
import { decodeRekey, type RekeyMessage } from "./key-rotation.js";
import type { PayloadKind } from "./storage.js";

/*
 * What the envelope carries (docs/client.md, "Inner packet"): exactly one SPEC §5
 * payload as UTF-8, nothing around it. Its first character is the primary type
 * and every payload type carries the sender's sharing flag in a fixed place, so
 * no extra header is needed: the flag cannot disagree with a second copy of itself.
 */

export type InnerPacket =
  | { type: "location"; sharing: boolean; location: LocationUpdate }
  | { type: "status"; sharing: boolean; status: SimpleStatusUpdate }
  | { type: "text"; sharing: boolean; part: TextPart /** The payload as received, for `joinText`. */; raw: string }
  /** Key rotation (docs/client.md): carries no sharing flag; `sharing` is unused. */
  | { type: "rekey"; sharing: boolean; rekey: RekeyMessage };

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** What an (encoded, valid) payload is, from its first character. */
export function payloadKind(payload: string): PayloadKind {
  switch (Number(payload[0])) {
    case PrimaryType.LocationUpdate:
      return "location";
    case PrimaryType.SimpleStatus:
      return "status";
    case PrimaryType.TextMessage:
      return "text";
    case PrimaryType.ConnectionManagement:
      return "rekey";
    default:
      throw invalidPayload("packet: payload type must be 1 (location), 3 (status), 4 (text) or 5 (key rotation)");
  }
}

export function encodeInner(payload: string): Uint8Array {
  return encoder.encode(payload);
}

/** Decodes an opened envelope; an unknown type or a malformed payload is an `invalid-payload` ClientError. */
export function decodeInner(plaintext: Uint8Array): InnerPacket {
  let text: string;
  try {
    text = decoder.decode(plaintext);
  } catch {
    throw invalidPayload("packet: payload is not valid UTF-8");
  }
  switch (Number(text[0])) {
    case PrimaryType.LocationUpdate: {
      const location = decodeLocation(text);
      return { type: "location", sharing: location.sharing, location };
    }
    case PrimaryType.SimpleStatus: {
      const status = decodeStatus(text);
      return { type: "status", sharing: status.sharing, status };
    }
    case PrimaryType.TextMessage: {
      const part = decodeTextPart(text);
      return { type: "text", sharing: part.sharing, part, raw: text };
    }
    case PrimaryType.ConnectionManagement:
      return { type: "rekey", sharing: true, rekey: decodeRekey(text) };
    default:
      throw invalidPayload("packet: payload type must be 1 (location), 3 (status) or 4 (text)");
  }
}
