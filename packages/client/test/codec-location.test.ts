import fc from "fast-check";
import { Movement } from "../src/codes.js";
import { LOCATION_PAYLOAD_LENGTH, decodeLocation, encodeLocation, type LocationUpdate } from "../src/codec-location.js";
import { expectClientError } from "./helpers.js";

const VECTOR = "131-033.86760393347335+151.20859451303656000.0";

const anyLocation = fc.record({
  movement: fc.constantFrom(...Object.values(Movement)),
  sharing: fc.boolean(),
  latitude: fc.double({ min: -90, max: 90, noNaN: true }),
  longitude: fc.double({ min: -180, max: 180, noNaN: true }),
  speedKmh: fc.double({ min: 0, max: 999.9, noNaN: true }),
});

describe("location codec", () => {
  it("decodes and re-encodes the SPEC §5 vector", () => {
    expect(VECTOR).toHaveLength(46);
    const decoded = decodeLocation(VECTOR);
    expect(decoded).toEqual({
      movement: Movement.Walking,
      sharing: true,
      latitude: -33.86760393347335,
      longitude: 151.20859451303656,
      speedKmh: 0,
    });
    expect(encodeLocation(decoded)).toBe(VECTOR);
  });

  it("always writes 46 characters that decode to the input rounded to the format", () => {
    fc.assert(
      fc.property(anyLocation, (update: LocationUpdate) => {
        const payload = encodeLocation(update);
        expect(payload).toHaveLength(LOCATION_PAYLOAD_LENGTH);
        const decoded = decodeLocation(payload);
        expect(decoded.movement).toBe(update.movement);
        expect(decoded.sharing).toBe(update.sharing);
        // 14 decimals, then the nearest double: within 5e-14 of the input.
        expect(decoded.latitude).toBeCloseTo(update.latitude, 13);
        expect(decoded.longitude).toBeCloseTo(update.longitude, 13);
        expect(decoded.speedKmh).toBe(Number(update.speedKmh.toFixed(1)));
        expect(encodeLocation(decoded)).toBe(payload);
      }),
      { numRuns: 2000 },
    );
  });

  it("writes zero and negative zero one way", () => {
    const base = { movement: Movement.Stationary, sharing: false, speedKmh: 0 };
    expect(encodeLocation({ ...base, latitude: -0, longitude: -1e-20 })).toBe(
      "110+000.00000000000000+000.00000000000000000.0",
    );
  });

  it("refuses out-of-range or non-finite values when encoding", () => {
    const valid: LocationUpdate = { movement: Movement.Walking, sharing: true, latitude: 0, longitude: 0, speedKmh: 0 };
    expectClientError(() => encodeLocation({ ...valid, latitude: 90.000001 }), "invalid-payload", /latitude/);
    expectClientError(() => encodeLocation({ ...valid, latitude: Number.NaN }), "invalid-payload", /latitude/);
    expectClientError(() => encodeLocation({ ...valid, longitude: -180.5 }), "invalid-payload", /longitude/);
    expectClientError(() => encodeLocation({ ...valid, speedKmh: -1 }), "invalid-payload", /speed/);
    expectClientError(() => encodeLocation({ ...valid, speedKmh: 999.95 }), "invalid-payload", /speed/);
    expectClientError(() => encodeLocation({ ...valid, speedKmh: Infinity }), "invalid-payload", /speed/);
    expectClientError(() => encodeLocation({ ...valid, speedKmh: Number.NaN }), "invalid-payload", /speed/);
    expectClientError(() => encodeLocation({ ...valid, speedKmh: -0.04 }), "invalid-payload", /speed/);
    expectClientError(() => encodeLocation({ ...valid, movement: 7 as Movement }), "invalid-payload", /movement/);
  });

  it("names the bad field when decoding", () => {
    expectClientError(() => decodeLocation(VECTOR.slice(0, 45)), "invalid-payload", /46 characters, got 45/);
    expectClientError(() => decodeLocation(`${VECTOR}0`), "invalid-payload", /46 characters, got 47/);
    expectClientError(() => decodeLocation(`3${VECTOR.slice(1)}`), "invalid-payload", /type at position 0/);
    expectClientError(() => decodeLocation(`171${VECTOR.slice(3)}`), "invalid-payload", /movement at position 1/);
    expectClientError(() => decodeLocation(`132${VECTOR.slice(3)}`), "invalid-payload", /sharing at position 2/);
    expectClientError(
      () => decodeLocation("131 033.86760393347335+151.20859451303656000.0"),
      "invalid-payload",
      /latitude at position 3/,
    );
    expectClientError(
      () => decodeLocation("131-033.8676039334733x+151.20859451303656000.0"),
      "invalid-payload",
      /latitude/,
    );
    expectClientError(
      () => decodeLocation("131-091.00000000000000+151.20859451303656000.0"),
      "invalid-payload",
      /latitude must be from -90 to 90/,
    );
    expectClientError(
      () => decodeLocation("131-033.86760393347335+181.00000000000000000.0"),
      "invalid-payload",
      /longitude must be from -180 to 180/,
    );
    expectClientError(
      () => decodeLocation("131-033.86760393347335+151.20859451303656-00.1"),
      "invalid-payload",
      /speed at position 41/,
    );
  });

  it("never echoes the coordinates in an error", () => {
    expectClientError(() => decodeLocation("131-099.86760393347335+151.20859451303656000.0"), "invalid-payload");
    try {
      decodeLocation("131-099.86760393347335+151.20859451303656000.0");
    } catch (error) {
      expect((error as Error).message).not.toContain("99.8676");
    }
  });

  it("says what each bad field must be (mutation testing, #19)", () => {
    const message = (payload: string) => {
      try {
        decodeLocation(payload);
      } catch (error) {
        return (error as { rawMessage: string }).rawMessage;
      }
      throw new Error("decoded");
    };
    expect(message(`3${VECTOR.slice(1)}`)).toBe("location: type at position 0 must be 1 (location update)");
    expect(message(`132${VECTOR.slice(3)}`)).toBe("location: sharing at position 2 must be 0 or 1");
    expect(message("131 033.86760393347335+151.20859451303656000.0")).toBe(
      "location: latitude at position 3 must be ±DDD.DDDDDDDDDDDDDD",
    );
    expect(message("131-033.86760393347335 151.20859451303656000.0")).toBe(
      "location: longitude at position 22 must be ±DDD.DDDDDDDDDDDDDD",
    );
    expect(message("131-033.86760393347335+151.20859451303656-00.1")).toBe(
      "location: speed at position 41 must be DDD.D km/h",
    );
  });
});
