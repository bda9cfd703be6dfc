import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  assertConnectionPublicKeys,
  connectionPublicKeys,
  exportAccountSecretKey,
  exportConnectionSecretKeys,
  generateAccountKeyPair,
  generateConnectionKeyPairs,
  importAccountKeyPair,
  importAccountPublicKey,
  importConnectionKeyPairs,
  signWithAccountKey,
  verifyAccountSignature,
} from "../src/keys.js";
import { expectClientError, filled } from "./helpers.js";

const message = new TextEncoder().encode('{"senderID":"a","recipientID":"b"}');

describe("account keys", () => {
  it("signs and verifies, and refuses a changed message, signature or key", () => {
    const account = generateAccountKeyPair();
    const signature = signWithAccountKey(account.secretKey, message);
    expect(signature).toHaveLength(64);
    expect(verifyAccountSignature(account.publicKey, message, signature)).toBe(true);
    expect(verifyAccountSignature(account.publicKey, message.slice(1), signature)).toBe(false);
    const flipped = signature.slice();
    flipped[10] ^= 1;
    expect(verifyAccountSignature(account.publicKey, message, flipped)).toBe(false);
    expect(verifyAccountSignature(generateAccountKeyPair().publicKey, message, signature)).toBe(false);
    expect(verifyAccountSignature(account.publicKey, message, signature.slice(0, 63))).toBe(false);
  });

  it("exports and imports the raw 32-byte secret, reproducing the RFC 8032 public key", () => {
    const account = generateAccountKeyPair();
    const raw = exportAccountSecretKey(account);
    expect(raw).toHaveLength(32);
    expect(importAccountKeyPair(raw)).toEqual(account);
    // RFC 8032 §7.1 test 1.
    const rfc = importAccountKeyPair(hexToBytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    expect(bytesToHex(rfc.publicKey)).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  });

  it("refuses keys of the wrong length or off the curve", () => {
    expectClientError(() => importAccountKeyPair(filled(1, 31)), "invalid-key", /32 bytes/);
    expectClientError(() => importAccountPublicKey(filled(1, 33)), "invalid-key", /32 bytes/);
    // y = 2 has no x on edwards25519.
    const offCurve = filled(0, 32);
    offCurve[0] = 2;
    expectClientError(() => importAccountPublicKey(offCurve), "invalid-key", /not a valid Ed25519 point/);
    expect(importAccountPublicKey(generateAccountKeyPair().publicKey)).toHaveLength(32);
  });
});

describe("connection keys", () => {
  it("generates distinct signing and encryption pairs and restores them from their secrets", () => {
    const keys = generateConnectionKeyPairs();
    const other = generateConnectionKeyPairs();
    expect(keys.signing.publicKey).not.toEqual(other.signing.publicKey);
    expect(keys.signing.publicKey).not.toEqual(keys.encryption.publicKey);
    expect(importConnectionKeyPairs(exportConnectionSecretKeys(keys))).toEqual(keys);
    expect(connectionPublicKeys(keys)).toEqual({
      signingPublicKey: keys.signing.publicKey,
      encryptionPublicKey: keys.encryption.publicKey,
    });
    expect(() => assertConnectionPublicKeys(connectionPublicKeys(keys))).not.toThrow();
  });

  it("refuses malformed public keys", () => {
    const keys = connectionPublicKeys(generateConnectionKeyPairs());
    expectClientError(
      () => assertConnectionPublicKeys({ ...keys, encryptionPublicKey: filled(9, 16) }),
      "invalid-key",
      /encryption/,
    );
    expectClientError(
      () => importConnectionKeyPairs({ signingSecretKey: filled(1, 32), encryptionSecretKey: filled(1, 8) }),
      "invalid-key",
    );
  });
});
