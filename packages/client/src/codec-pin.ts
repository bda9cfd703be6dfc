import { COORDINATE_LENGTH, LATITUDE_LIMIT, LONGITUDE_LIMIT, formatCoordinate, parseCoordinate } from "./coordinates.js";
import { invalidPayload } from "./fixed-width.js";

/**
 * The message body of a "share a location pin" text (sub-type 5): latitude then longitude in
 * the location payload's `±DDD.DDDDDDDDDDDDDD` form (38 characters), then an optional label,
 * e.g. `-033.85678000000000+151.21529000000000Opera House steps`.
 */
export interface LocationPin {
  latitude: number;
  longitude: number;
  label: string;
}

export function encodePinBody(pin: LocationPin): string {
  return (
    formatCoordinate(pin.latitude, LATITUDE_LIMIT, "pin: latitude") +
    formatCoordinate(pin.longitude, LONGITUDE_LIMIT, "pin: longitude") +
    pin.label
  );
}

export function decodePinBody(body: string): LocationPin {
  if (body.length < 2 * COORDINATE_LENGTH) throw invalidPayload("pin: body must start with latitude and longitude (38 characters)");
  return {
    latitude: parseCoordinate(body.slice(0, COORDINATE_LENGTH), LATITUDE_LIMIT, "pin: latitude"),
    longitude: parseCoordinate(body.slice(COORDINATE_LENGTH, 2 * COORDINATE_LENGTH), LONGITUDE_LIMIT, "pin: longitude"),
    label: body.slice(2 * COORDINATE_LENGTH),
  };
}
