import { jest } from "@jest/globals";
import { encodeLocation } from "../src/codec-location.js";
import { encodeStatus } from "../src/codec-status.js";
import { splitText } from "../src/codec-text.js";
import { Movement, SimpleStatus, TextMessageKind } from "../src/codes.js";
import { encodeRekey, newKeySet } from "../src/key-rotation.js";
import { connectionPublicKeys, generateConnectionKeyPairs } from "../src/keys.js";
import { LocationPolicy } from "../src/location-policy.js";
import { receiveInto } from "../src/receive.js";
import type { InboxMessage, StatusesWhileHidden } from "../src/storage.js";
import { clientOn, connectionPair, deviceState, fakeGateway, packetFrom } from "./device-fixtures.js";

/** Device-side behaviour of issue #12: packet times, retention, text edits, statuses while hidden, the location policy. */

const NOW = new Date("2026-06-01T12:00:00Z");
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const HERE = { movement: Movement.Walking, latitude: -33.8676, longitude: 151.2085, speedKmh: 4, sharing: true };
const text = (
  message: string,
  kind: TextMessageKind = TextMessageKind.New,
  parentPacketId = 0,
  parentIsSender = false,
) => splitText(message, { kind, sharing: true, parentPacketId, parentIsSender })[0];
const status = (code: SimpleStatus) => encodeStatus({ status: code, sharing: true, sentAt: NOW });

describe("packet times", () => {
  test("a location carries its send time; its age and staleness are handed out; a future send time is flagged", async () => {
    const { a, b } = connectionPair();
    const state = deviceState([b]);
    const old = await receiveInto(
      state,
      await packetFrom(a, b, 1, encodeLocation(HERE), {
        sentAt: seconds(NOW) - 20 * 60,
        accuracyM: 8,
        batteryPercent: 40,
      }),
      NOW,
    );
    const fresh = await receiveInto(
      state,
      await packetFrom(a, b, 2, encodeLocation(HERE), { sentAt: seconds(NOW) - 60 }),
      NOW,
    );
    const ahead = await receiveInto(
      state,
      await packetFrom(a, b, 3, encodeLocation(HERE), { sentAt: seconds(NOW) + 6 * 60 }),
      NOW,
    );
    const nearlyAhead = await receiveInto(
      state,
      await packetFrom(a, b, 4, encodeLocation(HERE), { sentAt: seconds(NOW) + 4 * 60 }),
      NOW,
    );
    const messages = [old, fresh, ahead, nearlyAhead].map((o) => (o.kind === "message" ? o.message : undefined));
    expect(messages[0]).toMatchObject({
      sentAt: "2026-06-01T11:40:00.000Z",
      receivedAt: NOW.toISOString(),
      accuracyM: 8,
      batteryPercent: 40,
    });
    expect(messages[1]).not.toHaveProperty("accuracyM");
    expect(messages.map((m) => m?.sentInFuture)).toEqual([undefined, undefined, true, undefined]);

    const device = clientOn(fakeGateway(), state, () => NOW);
    const inbox = await device.inbox();
    expect(inbox.map((m) => [m.age, m.stale])).toEqual([
      [1200, true],
      [60, false],
      [-360, false],
      [-240, false],
    ]);
    // The threshold is the client's to choose.
    const patient = clientOn(fakeGateway(), state, () => NOW);
    Object.assign(patient, { staleAfterMs: 30 * 60_000 });
    expect((await patient.inbox()).map((m) => m.stale)).toEqual([false, false, false, false]);
  });
});

describe("retention", () => {
  afterEach(() => jest.useRealTimers());

  const message = (kind: "location" | "status", daysOld: number, seq: number, now: Date): InboxMessage => {
    const receivedAt = new Date(now.getTime() - daysOld * 86_400_000).toISOString();
    return kind === "location"
      ? {
          seq,
          receivedAt,
          kind,
          connection: "c",
          packetId: seq,
          movement: 3,
          sharing: true,
          latitude: 1,
          longitude: 2,
          speedKmh: 0,
        }
      : {
          seq,
          receivedAt,
          kind,
          connection: "c",
          packetId: seq,
          status: 8,
          sharing: true,
          sentAt: receivedAt,
          utcOffsetMinutes: 0,
        };
  };

  test("received locations go after 30 days and messages after 180, on open and then daily; close stops it", async () => {
    jest.useFakeTimers({ doNotFake: ["nextTick", "setImmediate", "queueMicrotask"] });
    let now = NOW;
    const state = deviceState([]);
    state.inbox = [
      message("location", 31, 1, now),
      message("location", 29, 2, now),
      message("status", 181, 3, now),
      message("status", 170, 4, now),
    ];
    state.sentTexts = [
      {
        connection: "c",
        packetId: 1,
        textKind: 1,
        message: "old",
        sentAt: new Date(now.getTime() - 200 * 86_400_000).toISOString(),
      },
    ];
    const device = clientOn(fakeGateway(), state, () => now);
    await device.open();
    let stored = await device.storage.read();
    expect(stored.inbox.map((m) => m.seq)).toEqual([2, 4]);
    expect(stored.sentTexts).toEqual([]);

    // Two days later the daily run erases the location that has now passed 30 days.
    now = new Date(NOW.getTime() + 2 * 86_400_000);
    await jest.advanceTimersByTimeAsync(86_400_000);
    stored = await device.storage.read();
    expect(stored.inbox.map((m) => m.seq)).toEqual([4]);

    // After close no timer runs: the status passing 180 days stays until the next open.
    device.close();
    now = new Date(NOW.getTime() + 12 * 86_400_000);
    await jest.advanceTimersByTimeAsync(10 * 86_400_000);
    expect((await device.storage.read()).inbox.map((m) => m.seq)).toEqual([4]);
    await device.open();
    expect((await device.storage.read()).inbox).toEqual([]);
    device.close();
  });

  test("the periods are configurable", async () => {
    const state = deviceState([]);
    state.inbox = [message("location", 3, 1, NOW), message("status", 3, 2, NOW), message("status", 1, 3, NOW)];
    const device = clientOn(fakeGateway(), state, () => NOW);
    Object.assign(device, { retention: { locationDays: 2, messageDays: 2 } });
    expect(await device.prune()).toBe(2);
    expect((await device.storage.read()).inbox.map((m) => m.seq)).toEqual([3]);
  });
});

describe("text semantics", () => {
  test("an update replaces and a delete removes the text it names; only the sender's own texts", async () => {
    const { a, b } = connectionPair();
    const state = deviceState([b]);
    await receiveInto(state, await packetFrom(a, b, 1, text("See you at six")), NOW);
    const updated = await receiveInto(
      state,
      await packetFrom(a, b, 2, text("See you at seven", TextMessageKind.Update, 1, true)),
      NOW,
    );
    expect(updated).toMatchObject({
      kind: "edited",
      action: "updated",
      found: true,
      packetId: 1,
      message: { message: "See you at seven", updatedBy: 2 },
    });
    expect(state.inbox).toMatchObject([{ kind: "text", packetId: 1, message: "See you at seven" }]);
    // Editing a text the peer did not send (parent-is-sender off) is refused.
    expect(
      await receiveInto(state, await packetFrom(a, b, 3, text("hijack", TextMessageKind.Update, 1, false)), NOW),
    ).toMatchObject({ kind: "rejected", reason: "invalid-payload" });
    // An update of a message not here changes nothing.
    expect(
      await receiveInto(state, await packetFrom(a, b, 4, text("x", TextMessageKind.Update, 99, true)), NOW),
    ).toMatchObject({ kind: "edited", found: false });
    const deleted = await receiveInto(
      state,
      await packetFrom(
        a,
        b,
        5,
        splitText("", { kind: TextMessageKind.Delete, sharing: true, parentPacketId: 1, parentIsSender: true })[0],
      ),
      NOW,
    );
    expect(deleted).toMatchObject({ kind: "edited", action: "deleted", found: true });
    expect(state.inbox).toEqual([]);
  });

  test("refused on the device: empty texts, replies to unknown packetIDs, edits of texts I did not send", async () => {
    const { a } = connectionPair();
    const device = clientOn(fakeGateway(), deviceState([a]), () => NOW);
    await expect(device.sendText("", { sync: false })).rejects.toMatchObject({
      name: "ClientError",
      reason: "empty-text",
    });
    await expect(device.sendText(" \n ", { sync: false })).rejects.toMatchObject({ reason: "empty-text" });
    await expect(device.sendText("yes", { parentPacketId: 7, sync: false })).rejects.toMatchObject({
      reason: "unknown-parent",
      message: /message 7 is not one received/,
    });
    await expect(
      device.sendText("fix", { kind: TextMessageKind.Update, parentPacketId: 7, sync: false }),
    ).rejects.toMatchObject({ reason: "unknown-parent" });
    await expect(
      device.sendText("fix", { kind: TextMessageKind.Update, parentPacketId: 7, parentIsSender: false, sync: false }),
    ).rejects.toMatchObject({
      reason: "unknown-parent",
      message: /only a text I sent/,
    });
    expect((await device.storage.read()).outbox).toEqual([]);

    // My own text can be updated and deleted; the record of what I sent follows.
    const sent = await device.sendText("at six", { sync: false });
    const [id] = sent.sent[0].packetIds;
    await device.sendText("at seven", { kind: TextMessageKind.Update, parentPacketId: id, sync: false });
    expect((await device.storage.read()).sentTexts).toMatchObject([{ packetId: id, message: "at seven" }]);
    await device.sendText("", { kind: TextMessageKind.Delete, parentPacketId: id, sync: false });
    expect((await device.storage.read()).sentTexts).toEqual([]);
    expect((await device.storage.read()).outbox.map((p) => p.packetId)).toEqual([1, 2, 3]);
  });
});

describe("statuses while hidden", () => {
  async function hiddenReceives(setting: StatusesWhileHidden | undefined, payloads: string[]) {
    const { a, b } = connectionPair();
    const state = deviceState([{ ...b, ...(setting ? { statusesWhileHidden: setting } : {}) }]);
    state.sharing = false;
    const kinds: string[] = [];
    for (const [i, payload] of payloads.entries()) {
      const outcome = await receiveInto(state, await packetFrom(a, b, i + 1, payload), NOW);
      kinds.push(outcome.kind === "dropped" ? `dropped:${outcome.reason}` : outcome.kind);
    }
    return kinds;
  }
  const mix = [
    status(SimpleStatus.ImOk),
    status(SimpleStatus.Sos),
    status(SimpleStatus.ImLost),
    status(SimpleStatus.LocationSharingOn),
    text("hi"),
  ];

  test("by default only the danger statuses and the notices reach me while my location is hidden", async () => {
    expect(await hiddenReceives(undefined, mix)).toEqual([
      "dropped:hidden",
      "message",
      "message",
      "message",
      "dropped:hidden",
    ]);
  });

  test("`all` lets everything through, `none` only the notices", async () => {
    expect(await hiddenReceives("all", mix)).toEqual(["message", "message", "message", "message", "message"]);
    expect(await hiddenReceives("none", mix)).toEqual([
      "dropped:hidden",
      "dropped:hidden",
      "dropped:hidden",
      "message",
      "dropped:hidden",
    ]);
  });

  test("while my sharing is on, the setting changes nothing", async () => {
    const { a, b } = connectionPair();
    const state = deviceState([{ ...b, statusesWhileHidden: "none" }]);
    expect(await receiveInto(state, await packetFrom(a, b, 1, status(SimpleStatus.ImOk)), NOW)).toMatchObject({
      kind: "message",
    });
  });

  test("the setting is stored per connection", async () => {
    const { a } = connectionPair();
    const device = clientOn(fakeGateway(), deviceState([a]));
    expect((await device.connection(a.pairId)).statusesWhileHidden).toBe("urgent");
    expect(await device.setStatusesWhileHidden(a.label, "all")).toMatchObject({ statusesWhileHidden: "all" });
    expect((await device.storage.read()).connections[0].statusesWhileHidden).toBe("all");
    await expect(device.setStatusesWhileHidden(a.label, "some" as StatusesWhileHidden)).rejects.toMatchObject({
      message: /urgent, all or none/,
    });
  });
});

describe("location policy", () => {
  test("at most 4 fixes a minute while moving", () => {
    let now = 0;
    const policy = new LocationPolicy({ now: () => now });
    const decisions: boolean[] = [];
    for (let second = 0; second < 120; second += 5) {
      now = second * 1000;
      decisions.push(policy.offer(Movement.Walking));
    }
    // Fixes every 5 s: 0, 5, 10, 15 s go; the next at 60 s (the window slid past 0 s), then 65, 70, 75.
    const sentAt = decisions.flatMap((sent, i) => (sent ? [i * 5] : []));
    expect(sentAt).toEqual([0, 5, 10, 15, 60, 65, 70, 75]);
    now = 76_000;
    expect(policy.waitMs()).toBe(44_000);
  });

  test("none while still, except the first fix on coming to rest", () => {
    let now = 0;
    const policy = new LocationPolicy({ now: () => now });
    const at = (ms: number, movement: Movement) => ((now = ms), policy.offer(movement));
    expect(at(0, Movement.DrivingBusOrLightRail)).toBe(true);
    expect(at(30_000, Movement.Stationary)).toBe(true);
    expect(at(60_000, Movement.Stationary)).toBe(false);
    expect(at(600_000, Movement.Stationary)).toBe(false);
    expect(at(601_000, Movement.Walking)).toBe(true);
    expect(at(700_000, Movement.Stationary)).toBe(true);
    expect(() => new LocationPolicy({ maxPerMinute: 0 })).toThrow(RangeError);
  });
});

describe("key rotation messages", () => {
  const keys = () => connectionPublicKeys(generateConnectionKeyPairs());

  test("a confirm with no rotation of mine waiting, or for keys I did not offer, is refused and changes nothing", async () => {
    const { a, b } = connectionPair();
    const state = deviceState([a]);
    const before = structuredClone(state.connections[0]);
    const unexpected = await receiveInto(
      state,
      await packetFrom(b, a, 1, encodeRekey({ kind: "confirm", offered: keys(), keys: keys() })),
      NOW,
    );
    expect(unexpected).toMatchObject({ kind: "rejected", reason: "rotation-unexpected" });

    const pending = newKeySet();
    state.connections[0].pendingRotation = { ...pending.secrets, startedAt: NOW.toISOString() };
    const mismatch = await receiveInto(
      state,
      await packetFrom(b, a, 2, encodeRekey({ kind: "confirm", offered: keys(), keys: keys() })),
      NOW,
    );
    expect(mismatch).toMatchObject({ kind: "rejected", reason: "rotation-mismatch" });
    const { replay: _r1, pendingRotation: _p, ...kept } = state.connections[0];
    const { replay: _r2, ...was } = before;
    expect(kept).toEqual(was);

    const confirmed = await receiveInto(
      state,
      await packetFrom(b, a, 3, encodeRekey({ kind: "confirm", offered: pending.publicKeys, keys: keys() })),
      NOW,
    );
    expect(confirmed).toMatchObject({ kind: "rekeyed", step: "completed" });
    expect(state.connections[0]).toMatchObject({
      signingSecretKey: pending.secrets.signingSecretKey,
      previousKeys: { signingSecretKey: a.signingSecretKey },
    });
  });

  test("offers crossing: the initiator's wins", async () => {
    const { a, b } = connectionPair();
    const initiator = deviceState([
      { ...a, pendingRotation: { ...newKeySet().secrets, startedAt: NOW.toISOString() } },
    ]);
    expect(
      await receiveInto(initiator, await packetFrom(b, a, 1, encodeRekey({ kind: "offer", keys: keys() })), NOW),
    ).toMatchObject({ reason: "rotation-conflict" });
    const recipient = deviceState([
      { ...b, pendingRotation: { ...newKeySet().secrets, startedAt: NOW.toISOString() } },
    ]);
    expect(
      await receiveInto(recipient, await packetFrom(a, b, 1, encodeRekey({ kind: "offer", keys: keys() })), NOW),
    ).toMatchObject({ kind: "rekeyed", step: "answered" });
    expect(recipient.connections[0].pendingRotation).toBeUndefined();
    expect(recipient.connections[0].owedRekeyConfirm).toMatch(/^57[0-9a-f]{256}$/);
  });

  test("a malformed rotation payload is refused", async () => {
    const { a, b } = connectionPair();
    const state = deviceState([a]);
    expect(await receiveInto(state, await packetFrom(b, a, 1, "56abc"), NOW)).toMatchObject({
      kind: "rejected",
      reason: "invalid-payload",
    });
  });
});

test("a connection whose keys are 80 days old starts a rotation when the client opens (queued, offline first)", async () => {
  const { a } = connectionPair();
  const old = { ...a, createdAt: new Date(NOW.getTime() - 80 * 86_400_000).toISOString() };
  const young = {
    ...connectionPair({ a: "Young", b: "A" }).a,
    createdAt: new Date(NOW.getTime() - 79 * 86_400_000).toISOString(),
  };
  const device = clientOn(fakeGateway(), deviceState([old, young]), () => NOW);
  await device.open();
  const state = await device.storage.read();
  expect(state.outbox.map((p) => [p.pairId, p.packetId, p.kind])).toEqual([[a.peerPairId, 1, "rekey"]]);
  expect(state.connections.map((c) => c.pendingRotation !== undefined)).toEqual([true, false]);
  // Opening again (or the daily run) does not start a second one while the first waits.
  device.close();
  await device.open();
  expect((await device.storage.read()).outbox).toHaveLength(1);
  device.close();
});
