import { readFileSync } from "node:fs";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { CipherSuite, HkdfSha256 } from "@hpke/core";
import { DhkemX25519HkdfSha256 } from "@hpke/dhkem-x25519";
import { bytesToHex, concatBytes, hexToBytes } from "@noble/hashes/utils.js";
import { ENVELOPE_OVERHEAD, ENVELOPE_VERSION, open, seal, type OpenInput, type SealInput } from "../src/envelope.js";
import type { ClientErrorReason } from "../src/errors.js";
import { connectionPublicKeys, generateConnectionKeyPairs } from "../src/keys.js";
import { newPairId } from "../src/pair-id.js";
import { packetIdBytes } from "../src/packet-id.js";
import { utf8Bytes } from "../src/utf8.js";
import { VECTOR_INPUT } from "./envelope-fixtures.js";
import { filled } from "./helpers.js";

/** docs/envelope.md, "Test vectors": read from the document itself, so the doc and the code cannot drift apart. */
const DOC = readFileSync(new URL("../../../docs/envelope.md", import.meta.url), "utf8");

interface VectorInput {
  packetId: number;
  sentAt: number;
  accuracyM?: number;
  batteryPercent?: number;
  payload: string;
}

function docBlock(kind: "json" | "hex", name: string): string {
  const match = new RegExp(`\`\`\`${kind} ${name}\\n([\\s\\S]*?)\`\`\``).exec(DOC);
  if (!match) throw new Error(`docs/envelope.md has no ${kind} block "${name}"`);
  return match[1];
}

function docVectors(): Array<{ name: string; input: VectorInput; blob: string }> {
  const names = [...DOC.matchAll(/```json (vector-\d+)-input\n/g)].map((m) => m[1]);
  return names.map((name) => ({
    name,
    input: JSON.parse(docBlock("json", `${name}-input`)) as VectorInput,
    blob: docBlock("hex", name).replace(/\s+/g, ""),
  }));
}

function connection() {
  const sender = generateConnectionKeyPairs();
  const recipient = generateConnectionKeyPairs();
  const senderPairId = newPairId();
  const recipientPairId = newPairId();
  const plaintext = new TextEncoder().encode("131-033.86760393347335+151.20859451303656000.0");
  const sealInput: SealInput = {
    senderKeys: sender,
    recipientPublicKeys: connectionPublicKeys(recipient),
    senderPairId,
    recipientPairId,
    packetId: 7,
    plaintext,
    sentAt: 1_764_547_200,
    accuracyM: 12,
    batteryPercent: 87,
  };
  return { sender, recipient, senderPairId, recipientPairId, plaintext, sealInput };
}

async function sealed() {
  const c = connection();
  const blob = await seal(c.sealInput);
  const openInput: OpenInput = {
    recipientKeys: c.recipient,
    senderPublicKeys: connectionPublicKeys(c.sender),
    expectedSenderPairId: c.senderPairId,
    recipientPairId: c.recipientPairId,
    packetId: 7,
    blob,
  };
  return { ...c, blob, openInput };
}

async function expectRefused(promise: Promise<unknown>, reason: ClientErrorReason, message?: RegExp): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ name: "ClientError", reason });
  if (message) expect((error as Error).message).toMatch(message);
}

describe("envelope v2", () => {
  const vectors = docVectors();

  it("docs/envelope.md has the vectors", () => {
    expect(vectors.map((v) => v.name)).toEqual(["vector-1", "vector-2"]);
  });

  it.each(vectors.map((v) => [v.name, v] as const))(
    "%s matches byte for byte and opens to its inputs",
    async (_name, vector) => {
      const v = VECTOR_INPUT;
      const plaintext = new TextEncoder().encode(vector.input.payload);
      const { payload: _payload, ...meta } = vector.input;
      const blob = await seal({
        senderKeys: v.senderKeys,
        recipientPublicKeys: connectionPublicKeys(v.recipientKeys),
        senderPairId: v.senderPairId,
        recipientPairId: v.recipientPairId,
        plaintext,
        random: v.random(),
        ...meta,
      });
      expect(bytesToHex(blob)).toBe(vector.blob);
      const opened = await open({
        recipientKeys: v.recipientKeys,
        senderPublicKeys: connectionPublicKeys(v.senderKeys),
        expectedSenderPairId: v.senderPairId,
        recipientPairId: v.recipientPairId,
        packetId: vector.input.packetId,
        blob: hexToBytes(vector.blob),
      });
      const { packetId: _packetId, ...header } = meta;
      expect(opened).toEqual({ payload: plaintext, ...header });
    },
  );

  it("round-trips payloads of any size, with and without the optional fields", async () => {
    const { sealInput, recipient, sender } = connection();
    for (const size of [0, 1, 46, 128, 3900]) {
      const plaintext = crypto.getRandomValues(new Uint8Array(size));
      for (const extra of [{}, { accuracyM: 65_535, batteryPercent: 0 }]) {
        const blob = await seal({
          ...sealInput,
          accuracyM: undefined,
          batteryPercent: undefined,
          packetId: size,
          plaintext,
          ...extra,
        });
        expect(blob[0]).toBe(ENVELOPE_VERSION);
        expect(blob).toHaveLength(size + ENVELOPE_OVERHEAD + ("accuracyM" in extra ? 3 : 0));
        const opened = await open({
          recipientKeys: recipient,
          senderPublicKeys: connectionPublicKeys(sender),
          expectedSenderPairId: sealInput.senderPairId,
          recipientPairId: sealInput.recipientPairId,
          packetId: size,
          blob,
        });
        expect(opened).toEqual({ payload: plaintext, sentAt: sealInput.sentAt, ...extra });
      }
    }
  });

  it("seals the same payload differently every time", async () => {
    const { sealInput } = connection();
    expect(bytesToHex(await seal(sealInput))).not.toBe(bytesToHex(await seal(sealInput)));
  });

  it("refuses a blob with any single bit flipped", async () => {
    const { blob, openInput } = await sealed();
    const reasons = new Set<string>();
    for (let bit = 0; bit < blob.length * 8; bit++) {
      const tampered = blob.slice();
      tampered[bit >> 3] ^= 1 << (bit & 7);
      const error = await open({ ...openInput, blob: tampered }).then(
        () => undefined,
        (e: unknown) => e as { reason?: string },
      );
      expect(error).toMatchObject({ name: "ClientError" });
      reasons.add(error!.reason!);
    }
    // The version byte names itself; every other bit fails authentication.
    expect([...reasons].sort()).toEqual(["envelope-unauthentic", "envelope-version"]);
    expect((await open(openInput)).sentAt).toBe(1_764_547_200);
  });

  it("refuses a blob re-addressed to another recipient pairID or replayed under another packetID", async () => {
    const { openInput } = await sealed();
    await expectRefused(open({ ...openInput, recipientPairId: newPairId() }), "envelope-unauthentic");
    await expectRefused(open({ ...openInput, packetId: 8 }), "envelope-unauthentic");
  });

  it("refuses a re-addressed blob in decryption, before anything inside is read", async () => {
    // With the recipient pairID in the AAD, the blob does not decrypt at all: no sender pairID
    // comparison (envelope-sender-mismatch) happens, so nothing inside is learnt about it.
    const { openInput } = await sealed();
    await expectRefused(
      open({ ...openInput, recipientPairId: newPairId(), expectedSenderPairId: newPairId() }),
      "envelope-unauthentic",
    );
    await expectRefused(open({ ...openInput, packetId: 8, expectedSenderPairId: newPairId() }), "envelope-unauthentic");
  });

  it("refuses the wrong sender pairID, sender keys or recipient keys", async () => {
    const { openInput } = await sealed();
    await expectRefused(open({ ...openInput, expectedSenderPairId: newPairId() }), "envelope-sender-mismatch");
    await expectRefused(
      open({ ...openInput, senderPublicKeys: connectionPublicKeys(generateConnectionKeyPairs()) }),
      "envelope-unauthentic",
    );
    await expectRefused(open({ ...openInput, recipientKeys: generateConnectionKeyPairs() }), "envelope-unauthentic");
  });

  it("refuses a payload signed by someone other than the expected sender", async () => {
    // A third party who knows the recipient's public keys can encrypt to them, but cannot sign as the sender.
    const { sealInput, openInput } = await sealed();
    const forged = await seal({ ...sealInput, senderKeys: generateConnectionKeyPairs() });
    await expectRefused(open({ ...openInput, blob: forged }), "envelope-unauthentic");
  });

  it("refuses a version 1 blob with its reason, and names truncated blobs and bad arguments", async () => {
    const { blob, openInput, sealInput } = await sealed();
    await expectRefused(
      open({ ...openInput, blob: blob.subarray(0, ENVELOPE_OVERHEAD - 1) }),
      "envelope-malformed",
      /at least 162/,
    );
    const v1 = blob.slice();
    v1[0] = 1;
    await expectRefused(open({ ...openInput, blob: v1 }), "envelope-version", /version 1 .*no longer accepted/);
    const v3 = blob.slice();
    v3[0] = 3;
    await expectRefused(open({ ...openInput, blob: v3 }), "envelope-version", /version 3 is not supported/);
    await expectRefused(open({ ...openInput, packetId: 2 ** 32 }), "invalid-packet-id");
    await expectRefused(seal({ ...sealInput, senderPairId: "short" }), "invalid-pair-id", /\bsenderPairId must/);
    await expectRefused(seal({ ...sealInput, recipientPairId: "short" }), "invalid-pair-id", /\brecipientPairId must/);
    await expectRefused(
      open({ ...openInput, expectedSenderPairId: "short" }),
      "invalid-pair-id",
      /expectedSenderPairId must/,
    );
    await expectRefused(open({ ...openInput, recipientPairId: "short" }), "invalid-pair-id", /\brecipientPairId must/);
    await expectRefused(seal({ ...sealInput, packetId: -1 }), "invalid-packet-id");
    await expectRefused(seal({ ...sealInput, batteryPercent: 101 }), "invalid-payload", /battery/);
    await expectRefused(seal({ ...sealInput, accuracyM: -1 }), "invalid-payload", /accuracy/);
    await expectRefused(seal({ ...sealInput, sentAt: 1.5 }), "invalid-payload", /sentAt/);
    // A low-order X25519 point would give an all-zero shared secret.
    await expectRefused(
      seal({
        ...sealInput,
        recipientPublicKeys: { ...sealInput.recipientPublicKeys, encryptionPublicKey: filled(0, 32) },
      }),
      "invalid-key",
    );
  });

  it("takes the optional fields' bounds exactly, and says what each refusal means (mutation testing, #19)", async () => {
    const { sealInput, openInput } = await sealed();
    const opened = async (fields: Partial<SealInput>) =>
      open({ ...openInput, blob: await seal({ ...sealInput, ...fields }) });
    expect(await opened({ sentAt: 0, accuracyM: 0, batteryPercent: 0 })).toMatchObject({
      sentAt: 0,
      accuracyM: 0,
      batteryPercent: 0,
    });
    expect(await opened({ batteryPercent: 100 })).toMatchObject({ batteryPercent: 100 });
    // Without a send time, now in whole Unix seconds.
    const { sentAt } = await opened({ sentAt: undefined });
    expect(Math.abs(sentAt - Date.now() / 1000)).toBeLessThan(60);
    await expectRefused(open({ ...openInput, blob: new Uint8Array(0) }), "envelope-malformed", /at least 162/);
    for (const sentAt of [-1, 1.5]) {
      await expectRefused(seal({ ...sealInput, sentAt }), "invalid-payload", /sentAt must be whole Unix seconds/);
    }
    for (const accuracyM of [-1, 0.5, 65_536]) {
      await expectRefused(seal({ ...sealInput, accuracyM }), "invalid-payload", /accuracy must be whole metres/);
    }
    for (const batteryPercent of [-1, 0.5, 101]) {
      await expectRefused(
        seal({ ...sealInput, batteryPercent }),
        "invalid-payload",
        /battery must be a whole percentage from 0 to 100/,
      );
    }
    await expectRefused(
      seal({
        ...sealInput,
        recipientPublicKeys: { ...sealInput.recipientPublicKeys, encryptionPublicKey: filled(0, 32) },
      }),
      "invalid-key",
      /recipient encryption public key is not a usable X25519 key/,
    );
    await expectRefused(
      open({ ...openInput, expectedSenderPairId: newPairId() }),
      "envelope-sender-mismatch",
      /envelope was sent from a different pairID than expected/,
    );
    const forged = await seal({ ...sealInput, senderKeys: generateConnectionKeyPairs() });
    await expectRefused(open({ ...openInput, blob: forged }), "envelope-unauthentic", /envelope is not authentic/);
    await expectRefused(
      open({ ...openInput, recipientKeys: generateConnectionKeyPairs() }),
      "envelope-unauthentic",
      /envelope is not authentic/,
    );
  });

  it("checks the inner header before the signature: anyone who can encrypt to me gets a malformed one refused as such (mutation testing, #19)", async () => {
    // HPKE (base mode) lets anyone holding my public key encrypt to me, so the inner bytes are
    // not the sender's until the signature says so; this seals arbitrary inner bytes (a zero
    // signature) the way seal() does, to reach the header checks that run before it.
    const { recipient, senderPairId, recipientPairId, openInput } = await sealed();
    const hpke = new CipherSuite({
      kem: new DhkemX25519HkdfSha256(),
      kdf: new HkdfSha256(),
      aead: new Chacha20Poly1305(),
    });
    const withHeader = async (header: number[]) => {
      const context = await hpke.createSenderContext({
        recipientPublicKey: await hpke.kem.importKey(
          "raw",
          connectionPublicKeys(recipient).encryptionPublicKey.slice().buffer,
        ),
        info: utf8Bytes("seeme/envelope/v2"),
      });
      const inner = concatBytes(utf8Bytes(senderPairId), new Uint8Array(64), Uint8Array.from(header));
      const aad = concatBytes(Uint8Array.of(ENVELOPE_VERSION), utf8Bytes(recipientPairId), packetIdBytes(7));
      const ciphertext = new Uint8Array(await context.seal(inner, aad));
      return open({
        ...openInput,
        blob: concatBytes(Uint8Array.of(ENVELOPE_VERSION), new Uint8Array(context.enc), ciphertext),
      });
    };
    const sentAt = (value: bigint) => [...hexToBytes(value.toString(16).padStart(16, "0"))];
    const ok = sentAt(1_764_547_200n);
    const malformed: number[][] = [
      [0x04, ...ok], // an unknown flag
      [0x00, ...sentAt(2n ** 53n)], // a send time past 2^53 − 1
      [0x01, ...ok, 0x01], // accuracy flag, one byte of two
      [0x02, ...ok], // battery flag, no byte
      [0x02, ...ok, 101], // battery over 100
    ];
    for (const header of malformed) {
      await expectRefused(withHeader(header), "envelope-malformed", /envelope inner header is malformed/);
    }
    // At each limit the header is well-formed, and only the (zero) signature is refused.
    const wellFormed: number[][] = [
      [0x00, ...sentAt(2n ** 53n - 1n)],
      [0x01, ...ok, 0xff, 0xff],
      [0x02, ...ok, 100],
      [0x03, ...ok, 0x00, 0x05, 0],
    ];
    for (const header of wellFormed) await expectRefused(withHeader(header), "envelope-unauthentic");
  });
});
