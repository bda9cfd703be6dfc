import { importConnectionKeyPairs } from "../src/keys.js";
import { filled, scriptedRandom } from "./helpers.js";

/** The fixed keys and pairIDs of the docs/envelope.md test vectors (each vector's own inputs are in the doc). */
export const VECTOR_INPUT = {
  senderKeys: importConnectionKeyPairs({ signingSecretKey: filled(0x01, 32), encryptionSecretKey: filled(0x02, 32) }),
  recipientKeys: importConnectionKeyPairs({
    signingSecretKey: filled(0x03, 32),
    encryptionSecretKey: filled(0x04, 32),
  }),
  senderPairId: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  recipientPairId: "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
  /** HPKE's ephemeral key comes from DeriveKeyPair(ikm = 32 × 0x05). */
  random: () => scriptedRandom(filled(0x05, 32)),
};
