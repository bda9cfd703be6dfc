import type { ClientErrorReason } from "../src/errors.js";
import type { RandomSource } from "../src/random.js";

/** A RandomSource that hands out the given bytes in order, for reproducible vectors. */
export function scriptedRandom(...chunks: Uint8Array[]): RandomSource {
  let stream = Uint8Array.from(chunks.flatMap((chunk) => [...chunk]));
  return (length) => {
    if (length > stream.length) throw new Error(`scripted randomness exhausted (wanted ${length})`);
    const out = stream.slice(0, length);
    stream = stream.slice(length);
    return out;
  };
}

/** A seeded xorshift RandomSource: reproducible, for property-style loops only. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0 || 1;
  return (length) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      out[i] = state & 0xff;
    }
    return out;
  };
}

export function filled(byte: number, length: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

/** Asserts `fn` throws a ClientError with this reason and a message matching `message`. */
export function expectClientError(fn: () => unknown, reason: ClientErrorReason, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toMatchObject({ name: "ClientError", reason });
  if (message) expect((thrown as Error).message).toMatch(message);
}
