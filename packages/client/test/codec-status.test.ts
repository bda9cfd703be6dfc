import fc from "fast-check";
import { SimpleStatus } from "../src/codes.js";
import { STATUS_PAYLOAD_LENGTH, decodeStatus, encodeStatus } from "../src/codec-status.js";
import { expectClientError } from "./helpers.js";

const VECTOR = "30412025-04-19T19:41:05+10:00";

describe("simple status codec", () => {
  it("decodes and re-encodes the SPEC §5 vector", () => {
    expect(VECTOR).toHaveLength(29);
    const decoded = decodeStatus(VECTOR);
    expect(decoded).toEqual({
      status: SimpleStatus.ImLost,
      sharing: true,
      sentAt: new Date("2025-04-19T09:41:05Z"),
      utcOffsetMinutes: 600,
    });
    expect(encodeStatus(decoded)).toBe(VECTOR);
  });

  it("round-trips any status, instant (whole seconds) and offset", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.values(SimpleStatus)),
        fc.boolean(),
        fc
          .integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(9998, 11, 31) })
          .map((ms) => new Date(Math.floor(ms / 1000) * 1000)),
        fc.integer({ min: -18 * 60, max: 18 * 60 }),
        (status, sharing, sentAt, utcOffsetMinutes) => {
          const payload = encodeStatus({ status, sharing, sentAt, utcOffsetMinutes });
          expect(payload).toHaveLength(STATUS_PAYLOAD_LENGTH);
          expect(decodeStatus(payload)).toEqual({ status, sharing, sentAt, utcOffsetMinutes });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("writes negative offsets and drops milliseconds", () => {
    const sentAt = new Date("2025-01-01T02:30:00.999Z");
    expect(encodeStatus({ status: SimpleStatus.Sos, sharing: false, sentAt, utcOffsetMinutes: -(9 * 60 + 30) })).toBe(
      "30702024-12-31T17:00:00-09:30",
    );
  });

  it("defaults the offset to this device's", () => {
    const sentAt = new Date("2025-04-19T09:41:05Z");
    const decoded = decodeStatus(encodeStatus({ status: SimpleStatus.ImOk, sharing: true, sentAt }));
    expect(decoded.utcOffsetMinutes).toBe(0 - sentAt.getTimezoneOffset()); // 0 - x, not -x: no -0 in UTC
    expect(decoded.sentAt).toEqual(sentAt);
  });

  it("refuses bad input when encoding", () => {
    const sentAt = new Date("2025-04-19T09:41:05Z");
    expectClientError(
      () => encodeStatus({ status: 14 as SimpleStatus, sharing: true, sentAt }),
      "invalid-payload",
      /status/,
    );
    expectClientError(
      () => encodeStatus({ status: 1, sharing: true, sentAt, utcOffsetMinutes: 19 * 60 }),
      "invalid-payload",
      /utcOffsetMinutes/,
    );
    expectClientError(
      () => encodeStatus({ status: 1, sharing: true, sentAt, utcOffsetMinutes: 1.5 }),
      "invalid-payload",
      /utcOffsetMinutes/,
    );
    expectClientError(
      () => encodeStatus({ status: 1, sharing: true, sentAt: new Date(Number.NaN), utcOffsetMinutes: 0 }),
      "invalid-payload",
      /sentAt/,
    );
  });

  it("names the bad field when decoding", () => {
    expectClientError(() => decodeStatus(VECTOR.slice(1)), "invalid-payload", /29 characters, got 28/);
    expectClientError(() => decodeStatus(`1${VECTOR.slice(1)}`), "invalid-payload", /type at position 0/);
    expectClientError(() => decodeStatus(`3141${VECTOR.slice(4)}`), "invalid-payload", /status at position 1/);
    expectClientError(() => decodeStatus(`3042${VECTOR.slice(4)}`), "invalid-payload", /sharing at position 3/);
    expectClientError(() => decodeStatus("30412025-04-19 19:41:05+10:00"), "invalid-payload", /sent-at at position 4/);
    expectClientError(() => decodeStatus("30412025-02-30T19:41:05+10:00"), "invalid-payload", /not a real date/);
    expectClientError(() => decodeStatus("30412025-04-19T24:41:05+10:00"), "invalid-payload", /not a real date/);
    expectClientError(() => decodeStatus("30412025-04-19T19:41:05+10:60"), "invalid-payload", /not a real date/);
    expectClientError(() => decodeStatus("30412025-04-19T19:41:05+19:00"), "invalid-payload", /not a real date/);
  });

  it("says what each bad field must be (mutation testing, #19)", () => {
    const message = (payload: string) => {
      try {
        decodeStatus(payload);
      } catch (error) {
        return (error as { rawMessage: string }).rawMessage;
      }
      throw new Error("decoded");
    };
    expect(message(`1${VECTOR.slice(1)}`)).toBe("status: type at position 0 must be 3 (simple status)");
    expect(message(`3042${VECTOR.slice(4)}`)).toBe("status: sharing at position 3 must be 0 or 1");
    expect(message("30412025-04-19 19:41:05+10:00")).toBe(
      "status: sent-at at position 4 must be YYYY-MM-DDThh:mm:ss±hh:mm",
    );
  });

  it("writes years 0000 and 9999 and refuses a sender's wall clock outside them", () => {
    const at = (year: number, iso: string) => {
      const date = new Date(iso);
      date.setUTCFullYear(year);
      return date;
    };
    const status = { status: SimpleStatus.ImOk, sharing: false };
    const first = encodeStatus({ ...status, sentAt: at(0, "2000-01-01T00:00:00Z"), utcOffsetMinutes: 0 });
    expect(first).toBe("30800000-01-01T00:00:00+00:00");
    expect(decodeStatus(first).sentAt).toEqual(at(0, "2000-01-01T00:00:00Z"));
    const last = encodeStatus({ ...status, sentAt: at(9999, "2000-12-31T23:59:59Z"), utcOffsetMinutes: 0 });
    expect(last).toBe("30809999-12-31T23:59:59+00:00");
    expect(decodeStatus(last).sentAt).toEqual(at(9999, "2000-12-31T23:59:59Z"));
    // The bound is on the sender's local date: the same instants fall outside with the offset applied.
    for (const [sentAt, utcOffsetMinutes] of [
      [at(0, "2000-01-01T00:00:00Z"), -60],
      [at(9999, "2000-12-31T23:59:59Z"), 60],
      [at(-1, "2000-06-01T00:00:00Z"), 0],
      [at(10000, "2000-06-01T00:00:00Z"), 0],
    ] as const) {
      expectClientError(
        () => encodeStatus({ ...status, sentAt, utcOffsetMinutes }),
        "invalid-payload",
        /^\[invalid_argument\] status: sentAt must be a valid date in years 0000–9999$/,
      );
    }
  });

  it("without utcOffsetMinutes, writes the device's own offset (east of UTC is +)", () => {
    // A device in Sydney in June: getTimezoneOffset() is −600 (minutes from local time to UTC).
    const sentAt = Object.assign(new Date("2025-06-01T00:00:00Z"), { getTimezoneOffset: () => -600 });
    expect(encodeStatus({ status: SimpleStatus.ImOk, sharing: true, sentAt })).toBe(
      `3${String(SimpleStatus.ImOk).padStart(2, "0")}12025-06-01T10:00:00+10:00`,
    );
  });
});
