import { PAIR_ID_LENGTH, assertPairId, isPairId, newPairId } from "../src/pair-id.js";
import { randomAlphanumeric } from "../src/random.js";
import { expectClientError, scriptedRandom } from "./helpers.js";

describe("pairID", () => {
  it("is 40 characters of [A-Za-z0-9] and different every time", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newPairId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(id).toHaveLength(PAIR_ID_LENGTH);
      expect(isPairId(id)).toBe(true);
    }
  });

  it("uses every character about equally (no modulo bias)", () => {
    const counts = new Map<string, number>();
    for (const char of randomAlphanumeric(62 * 2000)) counts.set(char, (counts.get(char) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // Expected 2000 each, σ ≈ 44; modulo bias would put A–H near 2300.
    for (const count of counts.values()) expect(Math.abs(count - 2000)).toBeLessThan(250);
  });

  it("rejects bytes from 248 up instead of folding them onto the alphabet", () => {
    // 248–255 would map to A–H under `% 62`; they must be skipped.
    const random = scriptedRandom(Uint8Array.from([248, 255, 0, 61, 250, 62]), new Uint8Array(64));
    expect(randomAlphanumeric(3, random)).toBe("A9A");
  });

  it("recognises only well-formed pairIDs", () => {
    expect(isPairId("a".repeat(40))).toBe(true);
    expect(isPairId("a".repeat(39))).toBe(false);
    expect(isPairId("a".repeat(41))).toBe(false);
    expect(isPairId(`${"a".repeat(39)}-`)).toBe(false);
    expect(isPairId("SERVER")).toBe(false);
    expect(isPairId(42)).toBe(false);
    expectClientError(
      () => assertPairId("nope", "recipientPairId"),
      "invalid-pair-id",
      /recipientPairId must be 40 characters/,
    );
  });
});
