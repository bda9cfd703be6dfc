import { Movement, PrimaryType, isCodeOf } from "./codes.js";
import {
  COORDINATE_LENGTH,
  COORDINATE_PATTERN,
  LATITUDE_LIMIT,
  LONGITUDE_LIMIT,
  formatCoordinate,
  parseCoordinate,
} from "./coordinates.js";
import { FixedWidthReader, formatFlag, invalidPayload, parseFlag } from "./fixed-width.js";

/** SPEC §5: `1` movement sharing latitude longitude speed, e.g. `131-033.86760393347335+151.20859451303656000.0`. */
export const LOCATION_PAYLOAD_LENGTH = 46;

export const MAX_SPEED_KMH = 999.9;

export interface LocationUpdate {
  movement: Movement;
  /** The sender's location-sharing flag ("if you can't see me, I can't see you"). */
  sharing: boolean;
  latitude: number;
  longitude: number;
  /** km/h, one decimal, 0–999.9. */
  speedKmh: number;
}

export function encodeLocation(update: LocationUpdate): string {
  if (!isCodeOf(Movement, update.movement)) throw invalidPayload("location: movement must be a Movement code 1–6");
  return (
    String(PrimaryType.LocationUpdate) +
    String(update.movement) +
    formatFlag(update.sharing) +
    formatCoordinate(update.latitude, LATITUDE_LIMIT, "location: latitude") +
    formatCoordinate(update.longitude, LONGITUDE_LIMIT, "location: longitude") +
    formatSpeed(update.speedKmh)
  );
}

export function decodeLocation(payload: string): LocationUpdate {
  if (payload.length !== LOCATION_PAYLOAD_LENGTH) {
    throw invalidPayload(`location: must be ${LOCATION_PAYLOAD_LENGTH} characters, got ${payload.length}`);
  }
  const reader = new FixedWidthReader(payload, "location");
  reader.take(1, "type", /^1$/, "1 (location update)");
  const movement = Number(reader.take(1, "movement", /^[1-6]$/, "a movement code 1–6")) as Movement;
  const sharing = parseFlag(reader.take(1, "sharing", /^[01]$/, "0 or 1"));
  const coordinate = "±DDD.DDDDDDDDDDDDDD";
  const latitude = reader.take(COORDINATE_LENGTH, "latitude", COORDINATE_PATTERN, coordinate);
  const longitude = reader.take(COORDINATE_LENGTH, "longitude", COORDINATE_PATTERN, coordinate);
  const speed = reader.take(5, "speed", /^\d{3}\.\d$/, "DDD.D km/h");
  return {
    movement,
    sharing,
    latitude: parseCoordinate(latitude, LATITUDE_LIMIT, "location: latitude"),
    longitude: parseCoordinate(longitude, LONGITUDE_LIMIT, "location: longitude"),
    speedKmh: Number(speed),
  };
}

function formatSpeed(speedKmh: number): string {
  // NaN, ±Infinity, negatives and speeds that round past 999.9 do not print as DDD.D: the pattern refuses them.
  const text = speedKmh.toFixed(1).padStart(5, "0");
  if (!/^\d{3}\.\d$/.test(text)) throw invalidPayload(`location: speed must be from 0 to ${MAX_SPEED_KMH} km/h`);
  return text;
}
