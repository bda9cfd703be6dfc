import { Movement } from "@seeme/client";
import { LocationPolicy, distanceMetres, type Fix } from "../src/location-policy.js";
import { STALE_AFTER_MS, locationTime, minutesAgo } from "../src/packet-time.js";

const START = { latitude: 48.8584, longitude: 2.2945 };
const fix = (seconds: number, metresEast: number, speed: number | null = null): Fix => ({
  latitude: START.latitude,
  longitude: START.longitude + metresEast / (111_320 * Math.cos((START.latitude * Math.PI) / 180)),
  accuracy: 5,
  speed,
  time: seconds * 1000,
});

test("at most 4 fixes in any minute while moving", () => {
  const policy = new LocationPolicy();
  const sent: number[] = [];
  for (let second = 0; second <= 120; second += 5) {
    const next = fix(second, second * 1.5);
    if (policy.decide(next).send) {
      policy.sentFix(next);
      sent.push(second);
    }
  }
  for (const start of sent) expect(sent.filter((s) => s >= start && s < start + 60).length).toBeLessThanOrEqual(4);
  // 7.5 m per step: every other fix has moved 10 m; the fifth waits for the minute to pass.
  expect(sent.slice(0, 5)).toEqual([0, 10, 20, 30, 60]);
  expect(sent.length).toBeGreaterThanOrEqual(8);
  expect(policy.nextSlot(121_000)).toBeGreaterThanOrEqual(121_000);
});

test("nothing while standing still; walking and cycling are told apart by speed", () => {
  const policy = new LocationPolicy();
  const first = fix(0, 0);
  expect(policy.decide(first)).toMatchObject({ send: true, movement: Movement.Stationary });
  policy.sentFix(first);
  expect(policy.decide(fix(30, 3))).toMatchObject({ send: false, movement: Movement.Stationary });
  expect(policy.decide(fix(30, 40))).toMatchObject({ send: true, movement: Movement.Walking, speedKmh: 4.8 });
  expect(policy.decide(fix(30, 150, 5))).toMatchObject({
    send: true,
    movement: Movement.CyclingOrSkating,
    speedKmh: 18,
  });
  expect(policy.decide(fix(30, 900, 20))).toMatchObject({ movement: Movement.DrivingBusOrLightRail, speedKmh: 72 });
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
  expect(locationTime(packet)).toBe(Date.parse("2026-12-01T09:44:00Z"));
  expect(locationTime({ ...packet, sentAt: 1_764_582_000 } as typeof packet)).toBe(1_764_582_000_000);
});
