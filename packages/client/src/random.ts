/**
 * Where randomness comes from. Production always uses WebCrypto (present in Node 20 and
 * every browser); tests inject a fixed source so sealed blobs and padding are reproducible.
 */
export type RandomSource = (length: number) => Uint8Array;

/** WebCrypto fills at most 65,536 bytes a call, so larger requests are filled in slices. */
export const cryptoRandom: RandomSource = (length) => {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65_536)
    globalThis.crypto.getRandomValues(bytes.subarray(offset, offset + 65_536));
  return bytes;
};

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// The largest multiple of 62 that fits in a byte: bytes at or above it are rejected so every
// character is exactly equally likely (plain `byte % 62` would favour the first 8 characters).
const UNBIASED_LIMIT = 256 - (256 % ALPHANUMERIC.length);

/** `length` characters of [A-Za-z0-9], uniformly distributed, by rejection sampling. */
export function randomAlphanumeric(length: number, random: RandomSource = cryptoRandom): string {
  let out = "";
  while (out.length < length) {
    // Over-draw a little so one batch almost always suffices (≈3% of bytes are rejected).
    for (const byte of random(length - out.length + 8)) {
      if (byte >= UNBIASED_LIMIT) continue;
      out += ALPHANUMERIC[byte % ALPHANUMERIC.length];
      if (out.length === length) break;
    }
  }
  return out;
}
