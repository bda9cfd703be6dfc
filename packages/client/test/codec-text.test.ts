import fc from "fast-check";
import { TextMessageKind } from "../src/codes.js";
import { decodePinBody, encodePinBody } from "../src/codec-pin.js";
import {
  TEXT_BODY_MAX_BYTES,
  TEXT_PAYLOAD_BYTES,
  decodeTextPart,
  encodeTextPart,
  joinText,
  splitText,
  type TextMeta,
} from "../src/codec-text.js";
import { utf8Length } from "../src/utf8.js";
import { expectClientError, seededRandom } from "./helpers.js";

const MESSAGE = "Ok. We just came back from a walk on Mt Kosciuszko";
const PADDING = "q8ZkT3mWv0LrB6yNc1XsJ4hGd7PfA2uEo9KwR5tYi0HbV3nMx6CzQ8jSl1Fg"; // 60 chars, as a sender might pad
const VECTOR = `41100001063200101${PADDING}|${MESSAGE}`;
const NEW: TextMeta = { kind: TextMessageKind.New, sharing: true, parentPacketId: 0, parentIsSender: false };

describe("text codec", () => {
  it("decodes the SPEC §5 vector, which is exactly 128 bytes", () => {
    expect(PADDING).toHaveLength(60);
    expect(utf8Length(VECTOR)).toBe(128);
    expect(decodeTextPart(VECTOR)).toEqual({
      kind: TextMessageKind.New,
      sharing: true,
      parentPacketId: 10632,
      parentIsSender: false,
      part: 1,
      of: 1,
      body: MESSAGE,
    });
  });

  it("re-encodes the vector's fields with fresh padding, keeping the header and body", () => {
    const payload = encodeTextPart(decodeTextPart(VECTOR));
    expect(payload.slice(0, 17)).toBe("41100001063200101");
    expect(payload.slice(17, 77)).toMatch(/^[A-Za-z0-9]{60}$/);
    expect(payload.slice(77)).toBe(`|${MESSAGE}`);
    expect(payload).not.toBe(VECTOR);
  });

  it("pads every part to 128 bytes with CSPRNG characters that are never '|'", () => {
    const a = splitText("hi", NEW);
    const b = splitText("hi", NEW);
    expect(utf8Length(a[0])).toBe(TEXT_PAYLOAD_BYTES);
    expect(a[0].slice(17, 17 + 108)).toMatch(/^[A-Za-z0-9]{108}$/);
    expect(a[0]).not.toBe(b[0]);
  });

  it("splits a 300-character text into 3 parts and joins it back", () => {
    const message = Array.from({ length: 300 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const parts = splitText(message, { ...NEW, parentPacketId: 42, parentIsSender: true });
    expect(parts).toHaveLength(3);
    parts.forEach((part, index) => {
      expect(utf8Length(part)).toBe(128);
      expect(decodeTextPart(part)).toMatchObject({ part: index + 1, of: 3, parentPacketId: 42, parentIsSender: true });
    });
    expect(joinText([parts[2], parts[0], parts[1]])).toEqual({
      ...NEW,
      parentPacketId: 42,
      parentIsSender: true,
      message,
    });
  });

  it("never cuts an emoji, a family emoji or a combining accent between parts", () => {
    const family = "👨‍👩‍👧‍👦"; // 7 code points, 25 bytes
    const message = "é".repeat(20) + `${family}🙂é`.repeat(12);
    const parts = splitText(message, NEW);
    for (const part of parts) {
      const { body } = decodeTextPart(part);
      expect(utf8Length(part)).toBe(128);
      expect(body.startsWith("\u200d")).toBe(false);
      expect(body.startsWith("\u0301")).toBe(false);
      expect(body).not.toMatch(/[\uD800-\uDFFF]/u);
    }
    expect(joinText(parts).message).toBe(message);
  });

  it("falls back to code points for a grapheme larger than a part", () => {
    const zalgo = `a${"\u0301".repeat(80)}`; // one grapheme, 161 bytes
    const parts = splitText(zalgo, NEW);
    expect(parts).toHaveLength(2);
    expect(joinText(parts).message).toBe(zalgo);
  });

  it("round-trips random text of any script through split and join", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 400 }),
        fc.constantFrom(TextMessageKind.New, TextMessageKind.Reply, TextMessageKind.Update),
        fc.boolean(),
        fc.integer({ min: 0, max: 999_999_999 }),
        fc.boolean(),
        (message, kind, sharing, parentPacketId, parentIsSender) => {
          const meta = { kind, sharing, parentPacketId, parentIsSender };
          const parts = splitText(message, meta, seededRandom(parentPacketId));
          expect(parts.length).toBeGreaterThanOrEqual(Math.ceil(utf8Length(message) / TEXT_BODY_MAX_BYTES));
          parts.forEach((part) => expect(utf8Length(part)).toBe(128));
          expect(joinText(parts)).toEqual({ ...meta, message });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("keeps a '|' inside the message", () => {
    expect(joinText(splitText("a|b||c", NEW)).message).toBe("a|b||c");
  });

  it("carries an empty body for delete and a pin body for location pins", () => {
    const remove = { ...NEW, kind: TextMessageKind.Delete, parentPacketId: 77, parentIsSender: true };
    expect(joinText(splitText("", remove))).toEqual({ ...remove, message: "" });
    expectClientError(() => splitText("gone", remove), "invalid-payload", /delete carries no body/);

    const body = encodePinBody({ latitude: -33.85678, longitude: 151.25, radiusM: 50, label: "Opera House steps" });
    expect(body).toBe("-033.85678000000000+151.2500000000000000050Opera House steps");
    const pin = { ...NEW, kind: TextMessageKind.LocationPin };
    const joined = joinText(splitText(body, pin));
    expect(decodePinBody(joined.message)).toEqual({
      latitude: -33.85678,
      longitude: 151.25,
      radiusM: 50,
      label: "Opera House steps",
    });
    // No radius given: an exact point.
    expect(decodePinBody(encodePinBody({ latitude: 1, longitude: 2, label: "" })).radiusM).toBe(0);
    expectClientError(
      () => encodePinBody({ latitude: 1, longitude: 2, radiusM: 100_000, label: "" }),
      "invalid-payload",
      /radius/,
    );
    expectClientError(
      () => decodePinBody("-033.85678000000000+151.250000000000000005xOpera"),
      "invalid-payload",
      /radius/,
    );
    expectClientError(() => splitText("meet here", pin), "invalid-payload", /pin/);
  });

  it("refuses bad meta, bodies and messages when encoding", () => {
    expectClientError(() => splitText("x", { ...NEW, kind: 6 as TextMessageKind }), "invalid-payload", /kind/);
    expectClientError(
      () => splitText("x", { ...NEW, parentPacketId: 1_000_000_000 }),
      "invalid-payload",
      /parentPacketId/,
    );
    expectClientError(() => splitText("x", { ...NEW, parentPacketId: -1 }), "invalid-payload", /parentPacketId/);
    expectClientError(() => splitText("a\uD800b", NEW), "invalid-payload", /message holds a lone UTF-16 surrogate$/);
    expectClientError(
      () => splitText("x".repeat(99 * 110 + 1), NEW),
      "invalid-payload",
      /100 parts; at most 99 fit \(10890 bytes\)$/,
    );
    expectClientError(
      () => encodeTextPart({ ...NEW, part: 1, of: 1, body: "x".repeat(111) }),
      "invalid-payload",
      /111 bytes/,
    );
    expectClientError(() => encodeTextPart({ ...NEW, part: 2, of: 1, body: "" }), "invalid-payload", /part/);
    expectClientError(() => encodeTextPart({ ...NEW, part: 1, of: 100, body: "" }), "invalid-payload", /of must be/);
    expect(splitText("x".repeat(99 * 110), NEW)).toHaveLength(99);
  });

  it("names the problem when decoding", () => {
    expectClientError(() => decodeTextPart(VECTOR.slice(0, -1)), "invalid-payload", /128 UTF-8 bytes, got 127/);
    expectClientError(() => decodeTextPart(`${VECTOR.slice(0, -1)}é`), "invalid-payload", /got 129/);
    expectClientError(() => decodeTextPart(`1${VECTOR.slice(1)}`), "invalid-payload", /type at position 0/);
    expectClientError(() => decodeTextPart(`46${VECTOR.slice(2)}`), "invalid-payload", /kind at position 1/);
    expectClientError(() => decodeTextPart(`412${VECTOR.slice(3)}`), "invalid-payload", /sharing at position 2/);
    expectClientError(
      () => decodeTextPart(`41100001063x${VECTOR.slice(12)}`),
      "invalid-payload",
      /parent packetID at position 3/,
    );
    expectClientError(
      () => decodeTextPart(`4110000106320020${VECTOR.slice(16)}`),
      "invalid-payload",
      /part must be from 1 to of/,
    );
    expectClientError(
      () => decodeTextPart(`41100001063200100${VECTOR.slice(17)}`),
      "invalid-payload",
      /part must be from 1 to of/,
    );
    expectClientError(
      () => decodeTextPart(VECTOR.replace("|", "x")),
      "invalid-payload",
      /no \| between padding and body/,
    );
  });

  it("encodeTextPart checks its own meta, part and of (mutation testing, #19)", () => {
    const one = { ...NEW, part: 1, of: 1, body: "" };
    expectClientError(() => encodeTextPart({ ...one, kind: 6 as TextMessageKind }), "invalid-payload", /kind must be/);
    for (const count of [0, 1.5, 100]) {
      expectClientError(() => encodeTextPart({ ...one, of: count }), "invalid-payload", /\] text: of must be 1–99$/);
    }
    for (const part of [0, 1.5, 3]) {
      expectClientError(
        () => encodeTextPart({ ...one, of: 2, part }),
        "invalid-payload",
        /\] text: part must be from 1 to of$/,
      );
    }
    expect(decodeTextPart(encodeTextPart({ ...one, part: 99, of: 99 }))).toMatchObject({ part: 99, of: 99 });
  });

  it("names each header field, where it is and what it must be, when decoding (mutation testing, #19)", () => {
    const at = (position: number, value: string) =>
      `${VECTOR.slice(0, position)}${value}${VECTOR.slice(position + value.length)}`;
    const cases: Array<[string, string]> = [
      [at(0, "1"), "type at position 0 must be 4 (text message)"],
      [at(2, "2"), "sharing at position 2 must be 0 or 1"],
      [at(3, "00000106x"), "parent packetID at position 3 must be 9 digits"],
      [at(12, "2"), "parent-is-sender at position 12 must be 0 or 1"],
      [at(13, "0x"), "part at position 13 must be 2 digits"],
      [at(15, "x1"), "of at position 15 must be 2 digits"],
      [at(13, "0001"), "part must be from 1 to of, and of at least 1"],
    ];
    for (const [payload, message] of cases) {
      expect(utf8Length(payload)).toBe(128);
      let thrown: unknown;
      try {
        decodeTextPart(payload);
      } catch (error) {
        thrown = error;
      }
      expect((thrown as Error).message).toMatch(new RegExp(`\\] text: ${message.replace(/[()]/g, "\\$&")}$`));
    }
  });

  it("refuses to join parts that differ in any shared field, and a delete that carries a body (mutation testing, #19)", () => {
    const parts = splitText("y".repeat(300), NEW);
    const differing: TextMeta[] = [
      { ...NEW, kind: TextMessageKind.Reply },
      { ...NEW, sharing: false },
      { ...NEW, parentIsSender: true },
    ];
    for (const meta of differing) {
      const other = splitText("z".repeat(300), meta);
      expectClientError(
        () => joinText([parts[0], other[1], parts[2]]),
        "invalid-payload",
        /part 2 belongs to a different message/,
      );
    }
    const fourParts = splitText("z".repeat(400), NEW);
    expect(fourParts).toHaveLength(4);
    expectClientError(
      () => joinText([parts[0], fourParts[1], parts[2]]),
      "invalid-payload",
      /part 2 belongs to a different message/,
    );
    const deleteWithBody = encodeTextPart({
      ...NEW,
      kind: TextMessageKind.Delete,
      parentPacketId: 3,
      part: 1,
      of: 1,
      body: "x",
    });
    expectClientError(() => joinText([deleteWithBody]), "invalid-payload", /a delete carries no body/);
  });

  it("refuses to join an incomplete, duplicated or mixed set of parts", () => {
    const parts = splitText("y".repeat(300), NEW);
    const other = splitText("z".repeat(300), { ...NEW, parentPacketId: 5 });
    expectClientError(() => joinText([]), "invalid-payload", /no parts/);
    expectClientError(() => joinText(parts.slice(0, 2)), "invalid-payload", /have 2 parts of 3/);
    expectClientError(
      () => joinText([parts[0], parts[0], parts[2]]),
      "invalid-payload",
      /part 2 is missing or duplicated/,
    );
    expectClientError(
      () => joinText([parts[0], other[1], parts[2]]),
      "invalid-payload",
      /part 2 belongs to a different message/,
    );
  });

  it("pins: refuses a radius outside 0–99999 whole metres and names the bad coordinate (mutation testing, #19)", () => {
    const pin = { latitude: -33.85678, longitude: 151.25, label: "x" };
    for (const radiusM of [-1, 1.5, 100_000]) {
      expectClientError(
        () => encodePinBody({ ...pin, radiusM }),
        "invalid-payload",
        /\] pin: radius must be whole metres from 0 to 99999$/,
      );
    }
    expect(decodePinBody(encodePinBody({ ...pin, radiusM: 99_999 })).radiusM).toBe(99_999);
    expectClientError(() => encodePinBody({ ...pin, latitude: 91 }), "invalid-payload", /\] pin: latitude/);
    expectClientError(() => encodePinBody({ ...pin, longitude: 181 }), "invalid-payload", /\] pin: longitude/);
    const body = encodePinBody(pin);
    // Decoding names the bad coordinate too: a latitude of 91, then a longitude of 181.
    expectClientError(() => decodePinBody(`+091${body.slice(4)}`), "invalid-payload", /\] pin: latitude/);
    expectClientError(
      () => decodePinBody(`${body.slice(0, 19)}+181${body.slice(23)}`),
      "invalid-payload",
      /\] pin: longitude/,
    );
    expectClientError(
      () => decodePinBody(body.slice(0, 42)),
      "invalid-payload",
      /\] pin: body must start with latitude, longitude and radius \(43 characters\)$/,
    );
  });

  it("names a lone UTF-16 surrogate in a body (mutation testing, #19)", () => {
    expectClientError(
      () => encodeTextPart({ ...NEW, part: 1, of: 1, body: "a\ud800b" }, seededRandom(1)),
      "invalid-payload",
      /\] text: body holds a lone UTF-16 surrogate$/,
    );
  });
});
