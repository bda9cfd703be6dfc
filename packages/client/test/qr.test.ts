import { base32nopad } from "@scure/base";
import { connectionPublicKeys, generateConnectionKeyPairs } from "../src/keys.js";
import { newPairId } from "../src/pair-id.js";
import {
  decodeConnectionQr,
  decodeInviteQr,
  decodeQr,
  encodeConnectionQr,
  encodeInviteQr,
  type InviteCard,
} from "../src/qr.js";
import { renderQrSvg, renderQrText } from "../src/qr-render.js";
import { expectClientError, filled } from "./helpers.js";

const card = { pairId: newPairId(), publicKeys: connectionPublicKeys(generateConnectionKeyPairs()) };
const invite: InviteCard = { senderPairId: newPairId(), recipientPairId: newPairId(), serverSignature: filled(7, 64) };

/** Re-checksums a hand-edited payload so tests reach the checks behind the checksum. */
async function withValidCheck(kind: string, body: string): Promise<string> {
  const unchecked = `SEEME1:${kind}:${body}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(unchecked)));
  return `${unchecked}:${base32nopad.encode(digest.subarray(0, 5))}`;
}

describe("QR payloads", () => {
  it("round-trips a connection card in QR alphanumeric characters", () => {
    const text = encodeConnectionQr(card);
    expect(text).toMatch(/^SEEME1:C:[A-Z2-7]+:[A-Z2-7]{8}$/);
    expect(text).toHaveLength(185);
    expect(decodeConnectionQr(text)).toEqual(card);
    expect(decodeQr(` ${text}\n`)).toEqual({ kind: "connection", ...card });
  });

  it("round-trips an invite and checks it is for this connection", () => {
    const text = encodeInviteQr(invite);
    expect(text).toMatch(/^SEEME1:I:[A-Z2-7]+:[A-Z2-7]{8}$/);
    expect(decodeInviteQr(text)).toEqual(invite);
    expect(
      decodeInviteQr(text, { senderPairId: invite.senderPairId, recipientPairId: invite.recipientPairId }),
    ).toEqual(invite);
    expectClientError(
      () => decodeInviteQr(text, { senderPairId: invite.recipientPairId, recipientPairId: invite.senderPairId }),
      "qr-mismatch",
    );
  });

  it("refuses to encode bad cards", () => {
    expectClientError(() => encodeConnectionQr({ ...card, pairId: "x" }), "invalid-pair-id");
    expectClientError(
      () => encodeConnectionQr({ ...card, publicKeys: { ...card.publicKeys, signingPublicKey: filled(1, 31) } }),
      "invalid-key",
    );
    expectClientError(() => encodeInviteQr({ ...invite, serverSignature: filled(1, 63) }), "invalid-key", /64 bytes/);
  });

  it("names each way a scanned code can be wrong", async () => {
    const text = encodeConnectionQr(card);
    expectClientError(() => decodeQr("https://example.com/join?c=1"), "qr-foreign", /not a see-me code/);
    expectClientError(() => decodeQr(""), "qr-foreign");
    expectClientError(
      () => decodeQr(text.replace("SEEME1", "SEEME2")),
      "qr-version",
      /version 2; this app reads version 1/,
    );
    expectClientError(() => decodeQr(text.slice(0, 100)), "qr-truncated", /incomplete/);
    expectClientError(() => decodeQr(text.slice(0, -3)), "qr-truncated", /incomplete/);
    expectClientError(() => decodeQr(`${text}A`), "qr-malformed", /extra characters/);
    expectClientError(() => decodeQr(`${text}:X`), "qr-malformed", /extra characters/);
    expectClientError(() => decodeQr(text.replace(":C:", ":X:")), "qr-kind", /unknown kind/);
    const body = text.split(":")[2];
    const misread = text.replace(body, (body[0] === "A" ? "B" : "A") + body.slice(1));
    expectClientError(() => decodeQr(misread), "qr-checksum", /checksum does not match/);
    expectClientError(() => decodeInviteQr(text), "qr-kind", /connection code; an invite code was expected/);
    expectClientError(
      () => decodeConnectionQr(encodeInviteQr(invite)),
      "qr-kind",
      /invite code; a connection code was expected/,
    );
    // Well checksummed but wrong inside: the checks behind the checksum still name the problem.
    expectClientError(decodeQrOf(await withValidCheck("C", "a1")), "qr-malformed", /not valid base32/);
    expectClientError(
      decodeQrOf(await withValidCheck("C", base32nopad.encode(base32nopad.decode(body).subarray(0, 99)))),
      "qr-malformed",
      /holds 99 bytes, not 104/,
    );
    expectClientError(
      decodeQrOf(await withValidCheck("I", base32nopad.encode(filled(45, 144)))),
      "qr-malformed",
      /invite code holds an invalid pairID/,
    );
    const badPairId = new Uint8Array(104).fill(45);
    badPairId.set(card.publicKeys.signingPublicKey, 0);
    expectClientError(
      decodeQrOf(await withValidCheck("C", base32nopad.encode(badPairId))),
      "qr-malformed",
      /invalid pairID/,
    );
    const offCurve = new Uint8Array(104).fill(65);
    offCurve.fill(0, 0, 32);
    offCurve[0] = 2;
    expectClientError(
      decodeQrOf(await withValidCheck("C", base32nopad.encode(offCurve))),
      "qr-malformed",
      /invalid public key/,
    );
  });

  it("refuses a card whose X25519 key is a low-order point (nothing could be sealed to it)", async () => {
    const pairId = new TextEncoder().encode(card.pairId);
    const lowOrder = [
      filled(0, 32),
      Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 0)),
      base32nopad.decode("4DVXU7B3IG4K4FSW4P5PDH6ENLNATDPLTQZLD7MGMICRMX2JXAAA"),
    ];
    for (const key of lowOrder) {
      const body = new Uint8Array(104);
      body.set(card.publicKeys.signingPublicKey, 0);
      body.set(key, 32);
      body.set(pairId, 64);
      expectClientError(
        decodeQrOf(await withValidCheck("C", base32nopad.encode(body))),
        "qr-malformed",
        /invalid public key/,
      );
    }
    expectClientError(
      () => encodeConnectionQr({ ...card, publicKeys: { ...card.publicKeys, encryptionPublicKey: filled(0, 32) } }),
      "invalid-key",
      /low-order X25519 point/,
    );
  });
});

function decodeQrOf(text: string): () => unknown {
  return () => decodeQr(text);
}

describe("QR rendering", () => {
  it("renders an SVG document", async () => {
    const svg = await renderQrSvg(encodeConnectionQr(card));
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain("<path");
    expect(svg.trim().endsWith("</svg>")).toBe(true);
  });

  it("renders square half-block text with a light quiet zone", () => {
    const lines = renderQrText(encodeInviteQr(invite)).split("\n");
    const width = lines[0].length;
    expect(lines.every((line) => line.length === width)).toBe(true);
    expect(lines.length).toBe(Math.ceil(width / 2));
    expect(lines[0]).toBe("█".repeat(width));
    expect(lines.join("")).toMatch(/^[█▀▄ ]+$/);
  });
});
