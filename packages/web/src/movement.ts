import { Movement } from "@seeme/client";

/*
 * How the person seems to be moving, from the browser's fixes. How often a fix
 * may go out is the SDK's LocationPolicy (at most 4 a minute while moving,
 * nothing while still); this only names the movement it decides on.
 */

export interface Fix {
  latitude: number;
  longitude: number;
  /** Metres, as the browser reports it. */
  accuracy: number;
  /** m/s when the device measured it. */
  speed: number | null;
  time: number;
}

/** Moves shorter than this (or than the fix's own accuracy, up to 50 m) count as standing still. */
const STILL_METRES = 10;

/**
 * The movement and speed of `fix`, measured from `anchor` (the last fix that went out, so a
 * slow walk made of many short steps still adds up to a move).
 */
export function movementOf(anchor: Fix | undefined, fix: Fix): { movement: Movement; speedKmh: number } {
  const metres = anchor ? distanceMetres(anchor, fix) : Number.POSITIVE_INFINITY;
  const seconds = anchor ? Math.max(1, (fix.time - anchor.time) / 1000) : 1;
  const speedKmh = fix.speed !== null && fix.speed >= 0 ? fix.speed * 3.6 : anchor ? (metres / seconds) * 3.6 : 0;
  const still = anchor !== undefined && metres < Math.max(STILL_METRES, Math.min(fix.accuracy, 50));
  // A first fix with no measured speed says nothing about moving: shown as still.
  const movement = still || (!anchor && speedKmh < 1) ? Movement.Stationary : movementFor(speedKmh);
  return { movement, speedKmh: Math.min(999.9, Math.round(speedKmh * 10) / 10) };
}

function movementFor(kmh: number): Movement {
  if (kmh < 1) return Movement.MovingModeUnknown;
  if (kmh < 7) return Movement.Walking;
  if (kmh < 25) return Movement.CyclingOrSkating;
  return Movement.DrivingBusOrLightRail;
}

export function distanceMetres(
  a: { latitude: number; longitude: number },
  b: { latitude: number; longitude: number },
): number {
  const rad = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * rad;
  const dLon = (b.longitude - a.longitude) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}
