import {
  COORDINATE_LENGTH,
  LATITUDE_LIMIT,
  LONGITUDE_LIMIT,
  formatCoordinate,
  parseCoordinate,
} from "./coordinates.js";
import { invalidPayload, padNumber } from "./fixed-width.js";

/**
 * The message body of a "share a location pin" text (sub-type 5): latitude then longitude in
 * the location payload's `±DDD.DDDDDDDDDDDDDD` form (38 characters), the pin's radius in whole
 * metres (5 digits, `00000`–`99999`; 0 = an exact point), then an optional label, e.g.
 * `-033.85678000000000+151.2152900000000000050Opera House steps` (a 50 m circle).
 * SPEC §5 gives the text payload but no pin layout; the radius is see-me's (docs/client.md).
 */
export interface LocationPin {
  latitude: number;
  longitude: number;
  /** The area the pin stands for, in metres; 0 (the default) is an exact point. */
  radiusM?: number;
  label: string;
}

export const PIN_RADIUS_DIGITS = 5;
export const MAX_PIN_RADIUS_M = 99_999;
const PIN_HEADER_LENGTH = 2 * COORDINATE_LENGTH + PIN_RADIUS_DIGITS;

export function encodePinBody(pin: LocationPin): string {
  const radius = pin.radiusM ?? 0;
  if (!Number.isInteger(radius) || radius < 0 || radius > MAX_PIN_RADIUS_M)
    throw invalidPayload(`pin: radius must be whole metres from 0 to ${MAX_PIN_RADIUS_M}`);
  return (
    formatCoordinate(pin.latitude, LATITUDE_LIMIT, "pin: latitude") +
    formatCoordinate(pin.longitude, LONGITUDE_LIMIT, "pin: longitude") +
    padNumber(radius, PIN_RADIUS_DIGITS) +
    pin.label
  );
}

export function decodePinBody(body: string): Required<LocationPin> {
  if (body.length < PIN_HEADER_LENGTH)
    throw invalidPayload(`pin: body must start with latitude, longitude and radius (${PIN_HEADER_LENGTH} characters)`);
  const radius = body.slice(2 * COORDINATE_LENGTH, PIN_HEADER_LENGTH);
  if (!/^\d{5}$/.test(radius)) throw invalidPayload("pin: radius must be 5 digits of metres");
  return {
    latitude: parseCoordinate(body.slice(0, COORDINATE_LENGTH), LATITUDE_LIMIT, "pin: latitude"),
    longitude: parseCoordinate(body.slice(COORDINATE_LENGTH, 2 * COORDINATE_LENGTH), LONGITUDE_LIMIT, "pin: longitude"),
    radiusM: Number(radius),
    label: body.slice(PIN_HEADER_LENGTH),
  };
}
