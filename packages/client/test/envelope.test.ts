import { bytesToHex } from "@noble/hashes/utils.js";
import { ENVELOPE_OVERHEAD, ENVELOPE_VERSION, open, seal, type OpenInput } from "../src/envelope.js";
import { connectionPublicKeys, generateConnectionKeyPairs } from "../src/keys.js";
import { newPairId } from "../src/pair-id.js";
import { VECTOR_INPUT } from "./envelope-fixtures.js";
import { expectClientError, filled } from "./helpers.js";

/** docs/envelope.md, "Test vector": if this changes, the wire format changed. */
const VECTOR_BLOB =
  "0150a61409b1ddd0325e9b16b700e719e9772c07000b1bd7786e907c653d20495d060606060606060606060606060606060606060606060606" +
  "2a9ac59fb3cf42632aab50a10a89e9c3a2f9afd3a4ca11baf1bbd61bc40d87fd3d1430f9b290b9cafe184818373a5d2bd1c1e52299fab1507c" +
  "4a0965ed22d7b5d4f8c97caa84a69531c87c9cdd086047aced9959c91c035f403a28f268baf54d6028cf1d21b9d50a59bb7136fdca80d5b2c5" +
  "0e4d58d69d6333cff7db932cf72716e41c2da65d44184674e035402ae29a3064c19b30a9bdbbcf5e3200e9d822101587dd9db15f";

function connection() {
  const sender = generateConnectionKeyPairs();
  const recipient = generateConnectionKeyPairs();
  const senderPairId = newPairId();
  const recipientPairId = newPairId();
  const plaintext = new TextEncoder().encode("30412025-04-19T19:41:05+10:00");
  const blob = seal({ senderKeys: sender, recipientPublicKeys: connectionPublicKeys(recipient), senderPairId, recipientPairId, packetId: 7, plaintext });
  const openInput: OpenInput = {
    recipientKeys: recipient,
    senderPublicKeys: connectionPublicKeys(sender),
    expectedSenderPairId: senderPairId,
    recipientPairId,
    packetId: 7,
    blob,
  };
  return { sender, recipient, senderPairId, recipientPairId, plaintext, blob, openInput };
}

describe("envelope", () => {
  it("matches the documented test vector byte for byte, and opens it", () => {
    const v = VECTOR_INPUT;
    const blob = seal({
      senderKeys: v.senderKeys,
      recipientPublicKeys: connectionPublicKeys(v.recipientKeys),
      senderPairId: v.senderPairId,
      recipientPairId: v.recipientPairId,
      packetId: v.packetId,
      plaintext: v.plaintext,
      random: v.random(),
    });
    expect(bytesToHex(blob)).toBe(VECTOR_BLOB);
    expect(blob).toHaveLength(v.plaintext.length + ENVELOPE_OVERHEAD);
    const opened = open({
      recipientKeys: v.recipientKeys,
      senderPublicKeys: connectionPublicKeys(v.senderKeys),
      expectedSenderPairId: v.senderPairId,
      recipientPairId: v.recipientPairId,
      packetId: v.packetId,
      blob,
    });
    expect(opened).toEqual(v.plaintext);
  });

  it("round-trips payloads of any size, including empty", () => {
    const { sender, recipient, senderPairId, recipientPairId } = connection();
    for (const size of [0, 1, 46, 128, 3919]) {
      const plaintext = crypto.getRandomValues(new Uint8Array(size));
      const blob = seal({ senderKeys: sender, recipientPublicKeys: connectionPublicKeys(recipient), senderPairId, recipientPairId, packetId: size, plaintext });
      expect(blob[0]).toBe(ENVELOPE_VERSION);
      expect(blob).toHaveLength(size + ENVELOPE_OVERHEAD);
      const opened = open({ recipientKeys: recipient, senderPublicKeys: connectionPublicKeys(sender), expectedSenderPairId: senderPairId, recipientPairId, packetId: size, blob });
      expect(opened).toEqual(plaintext);
    }
  });

  it("seals the same payload differently every time", () => {
    const { sender, recipient, senderPairId, recipientPairId, plaintext, blob } = connection();
    const again = seal({ senderKeys: sender, recipientPublicKeys: connectionPublicKeys(recipient), senderPairId, recipientPairId, packetId: 7, plaintext });
    expect(bytesToHex(again)).not.toBe(bytesToHex(blob));
  });

  it("refuses a blob with any single bit flipped", () => {
    const { blob, openInput } = connection();
    let refused = 0;
    for (let bit = 0; bit < blob.length * 8; bit++) {
      const tampered = blob.slice();
      tampered[bit >> 3] ^= 1 << (bit & 7);
      expect(() => open({ ...openInput, blob: tampered })).toThrow();
      refused++;
    }
    expect(refused).toBe(blob.length * 8);
    expect(open(openInput)).toBeInstanceOf(Uint8Array);
  });

  it("refuses a blob re-addressed to another pairID or replayed under another packetID", () => {
    const { openInput } = connection();
    expectClientError(() => open({ ...openInput, recipientPairId: newPairId() }), "envelope-unauthentic");
    expectClientError(() => open({ ...openInput, packetId: 8 }), "envelope-unauthentic");
  });

  it("refuses the wrong sender pairID, sender keys or recipient keys", () => {
    const { openInput } = connection();
    expectClientError(() => open({ ...openInput, expectedSenderPairId: newPairId() }), "envelope-sender-mismatch");
    expectClientError(() => open({ ...openInput, senderPublicKeys: connectionPublicKeys(generateConnectionKeyPairs()) }), "envelope-unauthentic");
    expectClientError(() => open({ ...openInput, recipientKeys: generateConnectionKeyPairs() }), "envelope-unauthentic");
  });

  it("refuses a payload signed by someone other than the expected sender", () => {
    // A third party who knows the recipient's public keys can encrypt to them, but cannot sign as the sender.
    const { recipient, senderPairId, recipientPairId, openInput } = connection();
    const forger = generateConnectionKeyPairs();
    const forged = seal({ senderKeys: forger, recipientPublicKeys: connectionPublicKeys(recipient), senderPairId, recipientPairId, packetId: 7, plaintext: filled(1, 5) });
    expectClientError(() => open({ ...openInput, blob: forged }), "envelope-unauthentic");
  });

  it("names truncated blobs, unknown versions and bad arguments", () => {
    const { blob, openInput, sender, recipient, senderPairId, recipientPairId } = connection();
    expectClientError(() => open({ ...openInput, blob: blob.subarray(0, ENVELOPE_OVERHEAD - 1) }), "envelope-malformed", /at least 177/);
    const future = blob.slice();
    future[0] = 2;
    expectClientError(() => open({ ...openInput, blob: future }), "envelope-version", /version 2/);
    expectClientError(() => open({ ...openInput, packetId: 2 ** 32 }), "invalid-packet-id");
    const base = { senderKeys: sender, recipientPublicKeys: connectionPublicKeys(recipient), senderPairId, recipientPairId, packetId: 1, plaintext: filled(0, 1) };
    expectClientError(() => seal({ ...base, recipientPairId: "short" }), "invalid-pair-id");
    expectClientError(() => seal({ ...base, packetId: -1 }), "invalid-packet-id");
    // A low-order X25519 point would give an all-zero shared secret.
    expectClientError(() => seal({ ...base, recipientPublicKeys: { ...base.recipientPublicKeys, encryptionPublicKey: filled(0, 32) } }), "invalid-key");
  });
});
