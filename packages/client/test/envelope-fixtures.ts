import { importConnectionKeyPairs } from "../src/keys.js";
import { filled, scriptedRandom } from "./helpers.js";

/** The fixed inputs of the docs/envelope.md test vector. */
export const VECTOR_INPUT = {
  senderKeys: importConnectionKeyPairs({ signingSecretKey: filled(0x01, 32), encryptionSecretKey: filled(0x02, 32) }),
  recipientKeys: importConnectionKeyPairs({ signingSecretKey: filled(0x03, 32), encryptionSecretKey: filled(0x04, 32) }),
  senderPairId: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  recipientPairId: "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
  packetId: 10633,
  plaintext: new TextEncoder().encode("131-033.86760393347335+151.20859451303656000.0"),
  /** Ephemeral X25519 secret = 32 × 0x05, then nonce = 24 × 0x06. */
  random: () => scriptedRandom(filled(0x05, 32), filled(0x06, 24)),
};
