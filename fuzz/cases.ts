import { create, toBinary, toJsonString, type DescField, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { ScalarType } from "@bufbuild/protobuf";
import { frameFor, type WireProtocol } from "@seeme/testkit/raw-rpc";

/**
 * Request generators for the fuzz suite: random and mutated protobuf, broken
 * and mistyped JSON, wrong content types and huge values, for any method,
 * from its descriptor. Seeded, so a failing case can be replayed.
 */
export type Random = () => number;

/** mulberry32: small, fast, good enough to spread cases; seeded for replay. */
export function seeded(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (random: Random, below: number) => Math.floor(random() * below);
const pick = <T>(random: Random, items: readonly T[]): T => items[int(random, items.length)];

function randomBytes(random: Random, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = int(random, 256);
  return out;
}

const STRINGS = [
  "",
  "a",
  "00000000-0000-0000-0000-000000000000",
  "not-a-uuid",
  "\u0000",
  "💥".repeat(10),
  "' OR 1=1 --",
  "../../etc/passwd",
];

function randomString(random: Random, huge: boolean): string {
  const roll = random();
  if (huge && roll < 0.3) return "x".repeat(1000 + int(random, 100_000));
  if (roll < 0.5) return pick(random, STRINGS);
  if (roll < 0.7) return crypto.randomUUID();
  if (roll < 0.85) return Buffer.from(randomBytes(random, int(random, 40))).toString("base64url");
  return Array.from({ length: int(random, 64) }, () => String.fromCharCode(int(random, 0x2fff))).join("");
}

function randomScalar(random: Random, type: ScalarType, huge: boolean): unknown {
  switch (type) {
    case ScalarType.STRING:
      return randomString(random, huge);
    case ScalarType.BYTES:
      return randomBytes(
        random,
        huge && random() < 0.3 ? 1000 + int(random, 100_000) : pick(random, [0, 1, 16, 32, 33, 64, int(random, 300)]),
      );
    case ScalarType.BOOL:
      return random() < 0.5;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return pick(random, [0, -1, 1.5, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, random() * 1e9]);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return pick(random, [0n, -1n, 1n, 9223372036854775807n, -9223372036854775808n, BigInt(int(random, 2 ** 31))]);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return pick(random, [0n, 1n, 18446744073709551615n, BigInt(int(random, 2 ** 31))]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick(random, [0, 1, 4294967295, int(random, 100_000)]);
    default:
      return pick(random, [0, -1, 1, 2147483647, -2147483648, int(random, 1000)]);
  }
}

function randomValue(random: Random, field: DescField, depth: number, huge: boolean): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return randomScalar(random, field.scalar, huge);
    case "enum":
      return random() < 0.8 ? pick(random, field.enum.values).number : int(random, 1000) - 10;
    case "message":
      return randomInit(random, field.message, depth + 1, huge);
    case "list": {
      const length = huge && random() < 0.2 ? 100 + int(random, 2000) : int(random, 4);
      return Array.from({ length }, () => {
        if (field.listKind === "scalar") return randomScalar(random, field.scalar, false);
        if (field.listKind === "enum") return pick(random, field.enum.values).number;
        return randomInit(random, field.message, depth + 1, false);
      });
    }
    case "map": {
      const entries: Record<string, unknown> = {};
      for (let i = int(random, 3); i > 0; i--) {
        const value =
          field.mapKind === "scalar"
            ? randomScalar(random, field.scalar, false)
            : field.mapKind === "enum"
              ? pick(random, field.enum.values).number
              : randomInit(random, field.message, depth + 1, false);
        entries[randomString(random, false)] = value;
      }
      return entries;
    }
  }
}

/** A random init object for `desc`: each field set or not, oneofs picking one case. */
export function randomInit(random: Random, desc: DescMessage, depth = 0, huge = false): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  if (depth > 4) return init;
  for (const member of desc.members) {
    if (random() < 0.35) continue;
    if (member.kind === "oneof") {
      const field = pick(random, member.fields);
      init[member.localName] = { case: field.localName, value: randomValue(random, field, depth, huge) };
    } else {
      init[member.localName] = randomValue(random, member, depth, huge);
    }
  }
  return init;
}

/** Encodes a random message; a value protobuf-es refuses to encode yields random bytes instead. */
function validBinary(random: Random, desc: DescMessage, huge: boolean): Uint8Array {
  try {
    return toBinary(desc, create(desc, randomInit(random, desc, 0, huge) as never));
  } catch {
    return randomBytes(random, int(random, 64));
  }
}

function mutate(random: Random, bytes: Uint8Array): Uint8Array {
  const out = Array.from(bytes);
  for (let n = 1 + int(random, 4); n > 0; n--) {
    const roll = random();
    const at = int(random, out.length + 1);
    if (roll < 0.35 && out.length) out[Math.min(at, out.length - 1)] ^= 1 << int(random, 8);
    else if (roll < 0.55) out.splice(at, 0, ...randomBytes(random, 1 + int(random, 8)));
    else if (roll < 0.75) out.length = Math.min(out.length, at);
    else if (roll < 0.9)
      out.splice(at, 0, pick(random, [0x0a, 0x12, 0x08, 0xff, 0x80, 0x7a]), 0xff, 0xff, 0xff, 0xff, 0x0f);
    else out.splice(at, 0, ...out.slice(0, 16));
  }
  return Uint8Array.from(out);
}

const WRONG_JSON_VALUES = [
  "[]",
  "{}",
  '"x"',
  "1e309",
  "true",
  "null",
  "-1",
  '"\\u0000"',
  "[1,2,3]",
  '{"a":{"b":{}}}',
  "99999999999999999999999",
];

function jsonBody(random: Random, desc: DescMessage, huge: boolean): string {
  const roll = random();
  if (roll < 0.2) return Buffer.from(randomBytes(random, int(random, 64))).toString("latin1");
  if (roll < 0.35) return pick(random, ["{", '{"', "[", "null", "", "{}}", '{"a":}', '"just a string"', "1"]);
  let text: string;
  try {
    text = toJsonString(desc, create(desc, randomInit(random, desc, 0, huge) as never));
  } catch {
    text = "{}";
  }
  if (roll < 0.6 && desc.fields.length) {
    // The right field name with a value of the wrong type.
    const field = pick(random, desc.fields);
    return `{"${field.jsonName}": ${pick(random, WRONG_JSON_VALUES)}}`;
  }
  if (roll < 0.75 && text.length > 2) {
    const at = int(random, text.length);
    return text.slice(0, at) + pick(random, ['"', "}", ",", "\\", "\u0000", ":"]) + text.slice(at + 1);
  }
  return text;
}

export type CaseKind =
  | "random-bytes"
  | "mutated-proto"
  | "valid-proto"
  | "huge-values"
  | "bad-json"
  | "wrong-content-type";

export interface FuzzCase {
  kind: CaseKind;
  protocol: WireProtocol;
  body: Uint8Array;
  contentType?: string;
}

const WRONG_CONTENT_TYPES = [
  "text/plain",
  "application/xml",
  "application/grpc+json",
  "application/json; charset=utf-16",
  "multipart/form-data",
  "application/connect+json",
  "application/grpc-web-text",
];

/** One request for `method` over `protocol`. */
export function fuzzCase(random: Random, method: DescMethod, protocol: WireProtocol): FuzzCase {
  const stream = method.methodKind === "server_streaming";
  const kinds: CaseKind[] =
    protocol === "connect-json"
      ? ["bad-json", "bad-json", "huge-values", "valid-proto", "wrong-content-type"]
      : ["random-bytes", "mutated-proto", "mutated-proto", "valid-proto", "huge-values", "wrong-content-type"];
  const kind = pick(random, kinds);
  const frame = (message: Uint8Array) => frameFor(protocol, stream, message);
  switch (kind) {
    case "random-bytes":
      return { kind, protocol, body: frame(randomBytes(random, int(random, 512))) };
    case "mutated-proto":
      return { kind, protocol, body: frame(mutate(random, validBinary(random, method.input, false))) };
    case "bad-json":
      return { kind, protocol, body: frame(new TextEncoder().encode(jsonBody(random, method.input, false))) };
    case "huge-values":
      return protocol === "connect-json"
        ? { kind, protocol, body: frame(new TextEncoder().encode(jsonBody(random, method.input, true))) }
        : { kind, protocol, body: frame(validBinary(random, method.input, true)) };
    case "valid-proto":
      return protocol === "connect-json"
        ? { kind, protocol, body: new TextEncoder().encode(toJsonSafe(random, method.input)) }
        : { kind, protocol, body: frame(validBinary(random, method.input, false)) };
    case "wrong-content-type": {
      // Random bytes or a frame for another protocol, labelled with a type that does not match.
      const body =
        random() < 0.5 ? randomBytes(random, int(random, 256)) : frame(validBinary(random, method.input, false));
      return { kind, protocol, body, contentType: pick(random, WRONG_CONTENT_TYPES) };
    }
  }
}

function toJsonSafe(random: Random, desc: DescMessage): string {
  try {
    return toJsonString(desc, create(desc, randomInit(random, desc) as never));
  } catch {
    return "{}";
  }
}
