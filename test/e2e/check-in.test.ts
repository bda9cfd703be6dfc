import { Code } from "@connectrpc/connect";
import type pg from "pg";
import { Movement, type InboxMessage, type SeeMeClient } from "@seeme/client";
import { startStack, type Stack } from "../stack.js";
import { locationDatabase, newDevice, pair, syncUntil } from "./helpers.js";

/**
 * Check-in and latest-value locations with the SDK, through the real gateway
 * and services. The services' clock is the test's; the devices keep real time.
 */
let stack: Stack;
let db: pg.Pool;
let kid: SeeMeClient;
let mum: SeeMeClient;
let ids: { a: string; b: string };
let offsetMs = 0;
const HOUR_MS = 60 * 60 * 1000;
const serverNow = () => new Date(Date.now() + offsetMs);

beforeAll(async () => {
  stack = await startStack("e2e_check_in", { now: serverNow, env: { RELEASE_INTERVAL: "50ms" } });
  db = locationDatabase(stack);
  kid = await newDevice(stack);
  mum = await newDevice(stack);
  ids = await pair(kid, mum);
  await syncUntil(kid, (inbox) => inbox.some((m) => m.kind === "server" && m.subType === 3));
}, 30_000);

afterAll(async () => {
  await db?.end();
  await stack?.stop();
});

const peerMessages = (inbox: InboxMessage[]) => inbox.filter((m) => m.kind !== "server");
const held = async () =>
  Number((await db.query("SELECT count(*) AS n FROM packet WHERE recipient_pair_id = $1 AND held", [ids.b])).rows[0].n);

test("a check-in with the last location is held until its time, then Mum gets the message and where the kid was", async () => {
  await kid.sendLocation({ movement: Movement.Walking, latitude: 48.8584, longitude: 2.2945, speedKmh: 3 });
  await syncUntil(mum, (inbox) => peerMessages(inbox).length === 1);
  const before = (await mum.inbox()).length;

  const handle = await kid.checkIn({
    until: new Date(serverNow().getTime() + HOUR_MS),
    to: ids.a,
    message: "Not home by 23:00",
    includeLastLocation: true,
  });
  expect(handle.packetIds).toHaveLength(2);
  expect(await held()).toBe(2);
  await mum.sync();
  expect((await mum.inbox()).length).toBe(before);

  offsetMs += HOUR_MS + 1000;
  const inbox = await syncUntil(mum, (messages) => messages.length >= before + 2);
  const released = inbox.slice(before);
  expect(released).toEqual([
    expect.objectContaining({ kind: "text", message: "Not home by 23:00", packetId: handle.packetIds[0] }),
    expect.objectContaining({ kind: "location", latitude: 48.8584, longitude: 2.2945, packetId: handle.packetIds[1] }),
  ]);
  await expect(kid.cancelCheckIn(handle)).rejects.toMatchObject({ code: Code.NotFound });
});

test("a check-in cancelled (after being extended) before its time never reaches Mum", async () => {
  const before = (await mum.inbox()).length;
  const handle = await kid.checkIn({
    until: new Date(serverNow().getTime() + HOUR_MS),
    to: ids.a,
    message: "Back by 18:00",
  });
  const extended = await kid.extendCheckIn(handle, new Date(serverNow().getTime() + 2 * HOUR_MS));
  offsetMs += HOUR_MS + 1000;
  await mum.sync();
  expect((await mum.inbox()).length).toBe(before);
  await kid.cancelCheckIn(extended);
  offsetMs += 2 * HOUR_MS;
  await mum.sync();
  expect((await mum.inbox()).length).toBe(before);
  expect(await held()).toBe(0);
  await expect(
    kid.checkIn({ until: new Date(serverNow().getTime() + 8 * 24 * HOUR_MS), to: ids.a, message: "x" }),
  ).rejects.toMatchObject({ code: Code.InvalidArgument });
});

test("locations go in the latest-value slot: Mum, offline meanwhile, gets only the newest of ten", async () => {
  const before = (await mum.inbox()).length;
  for (let i = 0; i < 10; i++) {
    await kid.sendLocation({ movement: Movement.Walking, latitude: 10 + i, longitude: 20, speedKmh: 3 });
  }
  const inbox = await syncUntil(mum, (messages) => messages.length > before);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await mum.sync();
  const fresh = (await mum.inbox()).slice(before);
  expect(fresh).toEqual([expect.objectContaining({ kind: "location", latitude: 19 })]);
  expect(inbox.length).toBe(before + 1);
});
