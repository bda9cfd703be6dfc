import { PrimaryType, SimpleStatus, isCodeOf } from "./codes.js";
import { FixedWidthReader, formatFlag, invalidPayload, padNumber, parseFlag } from "./fixed-width.js";

/** SPEC §5: `3` status(2) sharing sent-at, e.g. `30412025-04-19T19:41:05+10:00`. */
export const STATUS_PAYLOAD_LENGTH = 29;

/** Real offsets run from −12:00 to +14:00; ±18:00 is the usual bound that still rejects nonsense. */
export const MAX_UTC_OFFSET_MINUTES = 18 * 60;

export interface SimpleStatusUpdate {
  status: SimpleStatus;
  sharing: boolean;
  /** The instant it was sent; the payload keeps whole seconds. */
  sentAt: Date;
  /**
   * The sender's UTC offset, kept so the recipient can show "sent at 7:41 pm their time".
   * When encoding it defaults to this device's offset at `sentAt`.
   */
  utcOffsetMinutes: number;
}

const TIMESTAMP_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([+-])(\d{2}):(\d{2})$/;

export function encodeStatus(
  update: Omit<SimpleStatusUpdate, "utcOffsetMinutes"> & { utcOffsetMinutes?: number },
): string {
  if (!isCodeOf(SimpleStatus, update.status)) throw invalidPayload("status: status must be a SimpleStatus code 0–13");
  return (
    String(PrimaryType.SimpleStatus) +
    padNumber(update.status, 2) +
    formatFlag(update.sharing) +
    formatTimestamp(update.sentAt, update.utcOffsetMinutes ?? -update.sentAt.getTimezoneOffset())
  );
}

export function decodeStatus(payload: string): SimpleStatusUpdate {
  if (payload.length !== STATUS_PAYLOAD_LENGTH) {
    throw invalidPayload(`status: must be ${STATUS_PAYLOAD_LENGTH} characters, got ${payload.length}`);
  }
  const reader = new FixedWidthReader(payload, "status");
  reader.take(1, "type", /^3$/, "3 (simple status)");
  const status = Number(reader.take(2, "status", /^(0\d|1[0-3])$/, "a SimpleStatus code 00–13")) as SimpleStatus;
  const sharing = parseFlag(reader.take(1, "sharing", /^[01]$/, "0 or 1"));
  const timestamp = reader.take(25, "sent-at", TIMESTAMP_PATTERN, "YYYY-MM-DDThh:mm:ss±hh:mm");
  return { status, sharing, ...parseTimestamp(timestamp) };
}

function formatTimestamp(sentAt: Date, utcOffsetMinutes: number): string {
  if (!Number.isInteger(utcOffsetMinutes) || Math.abs(utcOffsetMinutes) > MAX_UTC_OFFSET_MINUTES) {
    throw invalidPayload("status: utcOffsetMinutes must be a whole number of minutes within ±18:00");
  }
  // Shift the instant by the offset, then read the UTC fields: that yields the sender's wall-clock time.
  const local = new Date(sentAt.getTime() + utcOffsetMinutes * 60_000);
  const year = local.getUTCFullYear();
  if (!Number.isFinite(year) || year < 0 || year > 9999)
    throw invalidPayload("status: sentAt must be a valid date in years 0000–9999");
  const offset = Math.abs(utcOffsetMinutes);
  return (
    `${padNumber(year, 4)}-${padNumber(local.getUTCMonth() + 1, 2)}-${padNumber(local.getUTCDate(), 2)}` +
    `T${padNumber(local.getUTCHours(), 2)}:${padNumber(local.getUTCMinutes(), 2)}:${padNumber(local.getUTCSeconds(), 2)}` +
    `${utcOffsetMinutes < 0 ? "-" : "+"}${padNumber(Math.floor(offset / 60), 2)}:${padNumber(offset % 60, 2)}`
  );
}

function parseTimestamp(text: string): { sentAt: Date; utcOffsetMinutes: number } {
  const match = TIMESTAMP_PATTERN.exec(text)!;
  const [, year, month, day, hour, minute, second] = match.map(Number);
  const [offsetHours, offsetMinutes] = [Number(match[8]), Number(match[9])];
  const utcOffsetMinutes = (match[7] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  const wallClock = new Date(0);
  wallClock.setUTCFullYear(year, month - 1, day);
  wallClock.setUTCHours(hour, minute, second, 0);
  const valid =
    wallClock.getUTCFullYear() === year &&
    wallClock.getUTCMonth() === month - 1 &&
    wallClock.getUTCDate() === day &&
    wallClock.getUTCHours() === hour &&
    wallClock.getUTCMinutes() === minute &&
    wallClock.getUTCSeconds() === second &&
    offsetMinutes < 60 &&
    Math.abs(utcOffsetMinutes) <= MAX_UTC_OFFSET_MINUTES;
  if (!valid) throw invalidPayload("status: sent-at is not a real date, time and offset");
  return { sentAt: new Date(wallClock.getTime() - utcOffsetMinutes * 60_000), utcOffsetMinutes };
}
