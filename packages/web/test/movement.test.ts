import { Movement } from "@seeme/client";
import { distanceMetres, movementOf, type Fix } from "../src/movement.js";
import { STALE_AFTER_MS, locationTime, minutesAgo } from "../src/packet-time.js";

// How often a fix may go out is the SDK's LocationPolicy (tested in packages/client); here only the movement.
const START = { latitude: 48.8584, longitude: 2.2945 };
const fix = (seconds: number, metresEast: number, speed: number | null = null): Fix => ({
  latitude: START.latitude,
  longitude: START.longitude + metresEast / (111_320 * Math.cos((START.latitude * Math.PI) / 180)),
  accuracy: 5,
  speed,
  time: seconds * 1000,
});

test("standing still, walking, cycling and driving are told apart from the last fix sent", () => {
  const anchor = fix(0, 0);
  expect(movementOf(undefined, anchor)).toEqual({ movement: Movement.Stationary, speedKmh: 0 });
  expect(movementOf(anchor, fix(30, 3)).movement).toBe(Movement.Stationary);
  expect(movementOf(anchor, fix(30, 40))).toEqual({ movement: Movement.Walking, speedKmh: 4.8 });
  expect(movementOf(anchor, fix(30, 150, 5))).toEqual({ movement: Movement.CyclingOrSkating, speedKmh: 18 });
  expect(movementOf(anchor, fix(30, 900, 20))).toEqual({ movement: Movement.DrivingBusOrLightRail, speedKmh: 72 });
  // A poor fix (40 m accuracy) that moved 30 m is noise, not a move.
  expect(movementOf(anchor, { ...fix(30, 30), accuracy: 40 }).movement).toBe(Movement.Stationary);
});

test("distances, ages and staleness read as a person expects", () => {
  expect(Math.round(distanceMetres(fix(0, 0), fix(0, 100)))).toBe(100);
  const now = Date.parse("2026-12-01T10:00:00Z");
  expect(minutesAgo(now - 20_000, now)).toBe("just now");
  expect(minutesAgo(now - 12 * 60_000, now)).toBe("12 min ago");
  expect(minutesAgo(now - 3 * 3_600_000, now)).toBe("3 h ago");
  expect(STALE_AFTER_MS).toBe(15 * 60_000);
  const packet = {
    kind: "location",
    seq: 1,
    receivedAt: "2026-12-01T09:44:00.000Z",
    connection: "c",
    packetId: 1,
    movement: 3,
    sharing: true,
    latitude: 1,
    longitude: 2,
    speedKmh: 0,
  } as const;
  // The sender's time when the packet has one, the arrival otherwise.
  expect(locationTime(packet)).toBe(Date.parse("2026-12-01T09:44:00Z"));
  expect(locationTime({ ...packet, sentAt: "2026-12-01T09:40:00.000Z" })).toBe(Date.parse("2026-12-01T09:40:00Z"));
});
