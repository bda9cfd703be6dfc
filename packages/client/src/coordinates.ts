import { invalidPayload } from "./fixed-width.js";

/** `±DDD.DDDDDDDDDDDDDD`: sign, 3 integer digits, 14 decimals (≈1 nm, i.e. a double's full precision). */
export const COORDINATE_LENGTH = 19;
export const COORDINATE_PATTERN = /^[+-]\d{3}\.\d{14}$/;

export const LATITUDE_LIMIT = 90;
export const LONGITUDE_LIMIT = 180;

export function formatCoordinate(value: number, limit: number, name: string): string {
  if (!Number.isFinite(value) || Math.abs(value) > limit) {
    throw invalidPayload(`${name} must be a finite number from -${limit} to ${limit}`);
  }
  const digits = Math.abs(value)
    .toFixed(14)
    .padStart(COORDINATE_LENGTH - 1, "0");
  // A value that rounds to zero is written "+" so -0 and +0 have one spelling.
  const sign = value < 0 && Number(digits) !== 0 ? "-" : "+";
  return sign + digits;
}

export function parseCoordinate(text: string, limit: number, name: string): number {
  if (!COORDINATE_PATTERN.test(text)) throw invalidPayload(`${name} must be ±DDD.DDDDDDDDDDDDDD`);
  const value = Number(text);
  if (Math.abs(value) > limit) throw invalidPayload(`${name} must be from -${limit} to ${limit}`);
  return value === 0 ? 0 : value;
}
