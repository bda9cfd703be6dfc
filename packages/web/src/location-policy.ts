import { Movement } from "@seeme/client";

/*
 * The location policy (SPEC §8, from the design): at most 4 fixes a minute
 * while moving, none while still. The SDK branch adds its own helper; the app
 * asks this one small class, so switching to the SDK's is a change here alone.
 */

export interface Fix {
  latitude: number;
  longitude: number;
  accuracy: number;
  /** m/s when the device measured it. */
  speed: number | null;
  time: number;
}

export interface PolicyDecision {
  send: boolean;
  movement: Movement;
  speedKmh: number;
}

const WINDOW_MS = 60_000;
const MAX_PER_WINDOW = 4;
/** Moves shorter than this (or than the fix's own accuracy, up to 50 m) count as standing still. */
const STILL_METRES = 10;

export class LocationPolicy {
  private sent: number[] = [];
  private last: Fix | undefined;

  /** Whether to send `fix` now, and how the person seems to be moving. */
  decide(fix: Fix): PolicyDecision {
    const previous = this.last;
    const metres = previous ? distanceMetres(previous, fix) : Number.POSITIVE_INFINITY;
    const seconds = previous ? Math.max(1, (fix.time - previous.time) / 1000) : 1;
    const speedKmh = fix.speed !== null && fix.speed >= 0 ? fix.speed * 3.6 : previous ? (metres / seconds) * 3.6 : 0;
    const still = previous !== undefined && metres < Math.max(STILL_METRES, Math.min(fix.accuracy, 50));
    // A first fix with no measured speed says nothing about moving: shown as still.
    const movement = still || (!previous && speedKmh < 1) ? Movement.Stationary : movementFor(speedKmh);
    this.sent = this.sent.filter((time) => fix.time - time < WINDOW_MS);
    const send = !still && this.sent.length < MAX_PER_WINDOW;
    return { send, movement, speedKmh: Math.min(999.9, Math.round(speedKmh * 10) / 10) };
  }

  /** Records that `fix` went out. */
  sentFix(fix: Fix): void {
    this.last = fix;
    this.sent.push(fix.time);
  }

  /** When the next fix could go out (ms since the epoch), for a retry of a held fix. */
  nextSlot(now: number): number {
    this.sent = this.sent.filter((time) => now - time < WINDOW_MS);
    return this.sent.length < MAX_PER_WINDOW ? now : this.sent[0] + WINDOW_MS;
  }
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
