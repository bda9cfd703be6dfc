import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ed25519 } from "@noble/curves/ed25519.js";
import { decodeInviteQr } from "@seeme/client/qr";
import { confirmPayload } from "@seeme/client/signed-payloads";
import { ConnectionService } from "@seeme/contracts/connection";
import type pg from "pg";
import {
  Movement,
  MemoryStorage,
  SeeMeClient,
  SimpleStatus,
  createGatewayTransport,
  decodePinBody,
  type InboxMessage,
} from "@seeme/client";
import type { SyncResponse } from "@seeme/contracts/location";
import { startStack, type Stack } from "../stack.js";
import { locationDatabase, newDevice, pair, syncUntil } from "./helpers.js";

/**
 * The end-to-end "must show": two SDK devices through the real gateway,
 * identity, connection and location services, PostgreSQL and NATS.
 */
let stack: Stack;
let db: pg.Pool;
let alice: SeeMeClient;
let bob: SeeMeClient;
let ids: { a: string; b: string };

const LONG_TEXT = Array.from({ length: 30 }, (_, i) => `word${String(i).padStart(5, "0")} `).join("");
const isKind =
  <K extends InboxMessage["kind"]>(kind: K) =>
  (m: InboxMessage): m is Extract<InboxMessage, { kind: K }> =>
    m.kind === kind;

beforeAll(async () => {
  stack = await startStack("e2e_sdk");
  db = locationDatabase(stack);
  alice = await newDevice(stack);
  bob = await newDevice(stack);
}, 30_000);

afterAll(async () => {
  await db?.end();
  await stack?.stop();
});

test("two devices pair through QR payloads; the initiator learns the confirm from the 5/3 notice", async () => {
  ids = await pair(alice, bob);
  expect((await bob.connection(ids.b)).status).toBe("active");
  expect((await alice.connection(ids.a)).status).toBe("invited");
  await syncUntil(alice, (inbox) => inbox.some((m) => m.kind === "server" && m.type === 5 && m.subType === 3));
  const mine = await alice.connection(ids.a);
  expect(mine).toMatchObject({ status: "active", peerPairId: ids.b });
  expect((await bob.connection(ids.b)).peerPairId).toBe(ids.a);
});

test("a location, an SOS and a 300-character text (3 parts) arrive intact; the relay stores no plaintext", async () => {
  expect(LONG_TEXT).toHaveLength(300);
  const location = await alice.sendLocation(
    { movement: Movement.Walking, latitude: -33.8676039, longitude: 151.2085945, speedKmh: 4.5 },
    { sync: false },
  );
  const sos = await alice.sendStatus(SimpleStatus.Sos, { sync: false });
  const text = await alice.sendText(LONG_TEXT, { to: ids.a, sync: false });
  expect(text.sent[0].packetIds).toHaveLength(3);
  await alice.sync();

  // Five packets wait for Bob; none holds a coordinate or a word of the text.
  const { rows } = await db.query<{ packet_id: string; blob: Buffer }>(
    "SELECT packet_id, blob FROM packet WHERE recipient_pair_id = $1 ORDER BY packet_id",
    [ids.b],
  );
  expect(rows.map((row) => Number(row.packet_id))).toEqual([
    ...location.sent[0].packetIds,
    ...sos.sent[0].packetIds,
    ...text.sent[0].packetIds,
  ]);
  for (const row of rows) {
    const latin1 = row.blob.toString("latin1");
    for (const needle of ["033.867", "151.208", "-033", "word00001", "word00029", "131-033", "30712", "Mt Kos"])
      expect(latin1).not.toContain(needle);
    // Envelope v2: location 46 + 162, status 29 + 162, text part 128 + 162 bytes.
    expect([208, 191, 290]).toContain(row.blob.length);
  }

  const inbox = await syncUntil(bob, (messages) => messages.some(isKind("text")));
  const got = inbox.filter((m) => m.kind !== "server");
  expect(got.find(isKind("location"))).toMatchObject({
    connection: ids.b,
    movement: Movement.Walking,
    latitude: -33.8676039,
    longitude: 151.2085945,
    speedKmh: 4.5,
    sharing: true,
  });
  // The send time travels sealed in the envelope; the SDK hands out the age and marks stale locations.
  const fix = got.find(isKind("location"))!;
  expect(Date.parse(fix.sentAt!)).toBeLessThanOrEqual(Date.parse(fix.receivedAt));
  expect(Date.now() - Date.parse(fix.sentAt!)).toBeLessThan(60_000);
  expect(fix).toMatchObject({ age: expect.any(Number), stale: false });
  expect(fix.sentInFuture).toBeUndefined();
  expect(got.find(isKind("status"))).toMatchObject({ status: SimpleStatus.Sos, sharing: true });
  expect(got.find(isKind("text"))).toMatchObject({
    message: LONG_TEXT,
    textKind: 1,
    packetId: text.sent[0].packetIds[0],
  });
  // Bob acknowledged only after persisting: the relay deleted them and tells Alice.
  expect(
    Number((await db.query("SELECT count(*) AS n FROM packet WHERE recipient_pair_id = $1", [ids.b])).rows[0].n),
  ).toBe(0);
  const delivered: number[] = [];
  const off = alice.events.on("delivered", (event) => delivered.push(...event.packetIds));
  await alice.sync();
  off();
  expect(delivered.sort((x, y) => x - y)).toEqual(rows.map((row) => Number(row.packet_id)));
});

test("a reply, an update, a delete and a location pin arrive with their parent packetID", async () => {
  const [original] = (await bob.inbox()).filter(isKind("text"));
  await bob.sendText("Sounds good!", { parentPacketId: original.packetId });
  await bob.sendPin({ latitude: -33.85678, longitude: 151.21529, radiusM: 30, label: "Opera House steps" });
  const replies = await syncUntil(alice, (inbox) => inbox.filter(isKind("text")).length >= 2);
  const [reply, pin] = replies.filter(isKind("text"));
  expect(reply).toMatchObject({
    textKind: 2,
    message: "Sounds good!",
    parentPacketId: original.packetId,
    parentIsSender: false,
  });
  expect(pin.textKind).toBe(5);
  const place = decodePinBody(pin.message);
  expect(place).toMatchObject({ label: "Opera House steps", radiusM: 30 });
  expect(place.latitude).toBeCloseTo(-33.85678, 9);
  expect(place.longitude).toBeCloseTo(151.21529, 9);

  const sent = await alice.sendText("See you at six", {});
  const [messageId] = sent.sent[0].packetIds;
  const sixOnBob = async () => (await bob.inbox()).filter(isKind("text")).find((t) => t.packetId === messageId);
  await syncUntil(bob, async () => (await sixOnBob()) !== undefined);
  expect(await sixOnBob()).toMatchObject({ textKind: 1, message: "See you at six" });

  // An update replaces the text it names; the update is not a message of its own.
  const edits: Array<{ action: string; found: boolean }> = [];
  const off = bob.events.on("edited", (event) => edits.push({ action: event.action, found: event.found }));
  const textCount = (await bob.inbox()).filter(isKind("text")).length;
  await alice.sendText("See you at seven", { kind: 3, parentPacketId: messageId });
  await syncUntil(bob, async () => (await sixOnBob())?.message === "See you at seven");
  expect((await bob.inbox()).filter(isKind("text"))).toHaveLength(textCount);
  // A delete removes it.
  await alice.sendText("", { kind: 4, parentPacketId: messageId });
  await syncUntil(bob, async () => (await sixOnBob()) === undefined);
  off();
  expect(edits).toEqual([
    { action: "updated", found: true },
    { action: "deleted", found: true },
  ]);

  // Refused on the device, nothing queued: a reply to a message that does not exist, an empty text,
  // an update of the deleted message.
  await expect(bob.sendText("what?", { parentPacketId: 4242 })).rejects.toMatchObject({
    name: "ClientError",
    reason: "unknown-parent",
  });
  await expect(alice.sendText("   ")).rejects.toMatchObject({ name: "ClientError", reason: "empty-text" });
  await expect(alice.sendText("again", { kind: 3, parentPacketId: messageId })).rejects.toMatchObject({
    reason: "unknown-parent",
  });
  expect((await alice.storage.read()).outbox).toEqual([]);
});

test("the sharing rule works in both directions; status and text keep flowing", async () => {
  const here = { movement: Movement.Stationary, latitude: 51.5, longitude: -0.12, speedKmh: 0 };
  const bobInboxStart = (await bob.inbox()).at(-1)?.seq ?? 0;
  const aliceInboxStart = (await alice.inbox()).at(-1)?.seq ?? 0;

  // Alice turns her sharing off: she sends no location...
  await alice.setSharing(false);
  await expect(alice.sendLocation(here)).rejects.toMatchObject({ code: Code.FailedPrecondition });
  // ...and drops a location Bob sent before he heard of it.
  const dropped: string[] = [];
  alice.events.on("dropped", (event) => dropped.push(event.reason));
  await bob.sendLocation(here, { sync: false });
  await bob.sync(); // sends it, and receives Alice's "sharing off" status
  await syncUntil(alice, () => dropped.length === 1);
  expect(dropped).toEqual(["sharing-off"]);
  expect((await alice.inbox(aliceInboxStart)).filter(isKind("location"))).toEqual([]);

  // Bob now knows: his location is withheld from Alice until she turns it on again.
  const bobSide = await bob.connection(ids.b);
  expect(bobSide.peerSharing).toBe(false);
  expect((await bob.inbox(bobInboxStart)).find(isKind("status"))).toMatchObject({
    status: SimpleStatus.LocationSharingOff,
    sharing: false,
  });
  const withheld = await bob.sendLocation(here);
  expect(withheld).toMatchObject({ sent: [], withheld: [{ connection: ids.b }] });

  // While Alice is hidden, Bob's SOS reaches her but (by default) not his "I'm OK" (SPEC §8, statuses while hidden).
  expect((await alice.connection(ids.a)).statusesWhileHidden).toBe("urgent");
  dropped.length = 0;
  await bob.sendStatus(SimpleStatus.ImOk);
  await bob.sendStatus(SimpleStatus.Sos);
  await syncUntil(alice, (inbox) =>
    inbox.some((m) => m.seq > aliceInboxStart && m.kind === "status" && m.status === SimpleStatus.Sos),
  );
  expect(dropped).toEqual(["hidden"]);
  expect((await alice.inbox(aliceInboxStart)).some((m) => m.kind === "status" && m.status === SimpleStatus.ImOk)).toBe(
    false,
  );
  // She lets everything from Bob through: status and text flow both ways.
  await alice.setStatusesWhileHidden(ids.a, "all");
  await bob.sendStatus(SimpleStatus.ImOk);
  await alice.sendText("still here", {});
  await syncUntil(alice, (inbox) =>
    inbox.some((m) => m.seq > aliceInboxStart && m.kind === "status" && m.status === SimpleStatus.ImOk),
  );
  await syncUntil(bob, (inbox) =>
    inbox.some((m) => m.seq > bobInboxStart && m.kind === "text" && m.message === "still here"),
  );

  // The other direction: Bob turns his off; Alice, back on, withholds hers from him.
  await bob.setSharing(false);
  await alice.setSharing(true);
  await syncUntil(alice, () => true);
  expect((await alice.connection(ids.a)).peerSharing).toBe(false);
  expect(await alice.sendLocation(here)).toMatchObject({ sent: [], withheld: [{ connection: ids.a }] });
  await syncUntil(bob, (inbox) =>
    inbox.some((m) => m.seq > bobInboxStart && m.kind === "status" && m.status === SimpleStatus.LocationSharingOn),
  );
  expect((await bob.connection(ids.b)).peerSharing).toBe(true);

  // Both on again: locations flow.
  await bob.setSharing(true);
  await syncUntil(alice, () => true);
  expect((await alice.connection(ids.a)).peerSharing).toBe(true);
  const sent = await alice.sendLocation({ ...here, latitude: 48.85 });
  expect(sent.sent).toHaveLength(1);
  await syncUntil(bob, (inbox) => inbox.some((m) => m.kind === "location" && m.latitude === 48.85));
});

test("live delivery over Subscribe, then breaking the connection notifies the peer", async () => {
  const live = await bob.startLive();
  try {
    await live.caughtUp;
    const arrived = new Promise<InboxMessage>((resolve) => {
      const off = bob.events.on("message", (message) => {
        if (message.kind === "status") off(), resolve(message);
      });
    });
    await alice.sendStatus(SimpleStatus.OnMyWayHome);
    expect(await arrived).toMatchObject({ status: SimpleStatus.OnMyWayHome, connection: ids.b });

    const broken = new Promise<string>((resolve) =>
      bob.events.on("connection", (event) => event.status === "broken" && resolve(event.connection)),
    );
    await alice.breakConnection(ids.a);
    expect((await alice.connection(ids.a)).status).toBe("broken");
    expect(await broken).toBe(ids.b);
  } finally {
    await live.stop();
  }
  await expect(bob.sendStatus(SimpleStatus.ImOk, { to: ids.b })).rejects.toMatchObject({
    code: Code.FailedPrecondition,
  });
  expect((await bob.sync()).rounds).toBeGreaterThan(0);
});

test("a confirm whose answer was lost: scanning the invite again hears 'already used' from the server and completes from its list", async () => {
  const carol = await newDevice(stack);
  const dave = await newDevice(stack);
  const offer = await carol.createOffer("Dave");
  const answer = await dave.answerOffer(offer.qr, "Carol");
  const invite = await carol.initiate(answer.qr, offer.connection);
  await dave.confirm(invite.qr);
  // The confirm committed but its answer never reached Dave's device.
  await dave.storage.update((state) => {
    state.connections[0].status = "answered";
  });
  expect(await dave.confirm(invite.qr)).toMatchObject({ connection: answer.connection, status: "active" });
  await dave.sendText("made it", { to: "Carol" });
  await syncUntil(carol, (inbox) => inbox.some((m) => m.kind === "text" && m.message === "made it"));
});

test("a receipt whose Sync answer was lost on the way is reported by a later Sync, and to the app once", async () => {
  // Arms a fault: the next Sync answer that carries a delivery receipt is dropped after the relay committed it.
  let loseNextReceipt = false;
  const lost: number[] = [];
  const loseAnswer: Interceptor = (next) => async (req) => {
    const res = await next(req);
    if (loseNextReceipt && req.method.name === "Sync" && !res.stream) {
      const receipt = (res.message as SyncResponse).syncMeta.find((meta) => meta.deliveredPackets.length > 0);
      if (receipt) {
        loseNextReceipt = false;
        lost.push(...receipt.deliveredPackets);
        throw new ConnectError("the answer was lost on the way", Code.DeadlineExceeded);
      }
    }
    return res;
  };
  const erin = new SeeMeClient({
    storage: new MemoryStorage(),
    transport: (auth) => createGatewayTransport(stack.gatewayUrl, { interceptors: [auth, loseAnswer] }),
    retry: { baseDelayMs: 50 },
  });
  await erin.register();
  const frank = await newDevice(stack);
  const pairs = await pair(erin, frank);
  await syncUntil(erin, async () => (await erin.connection(pairs.a)).status === "active");
  const text = await erin.sendText("did you get this?", { to: pairs.a, sync: false });
  await erin.sync();
  await syncUntil(frank, (inbox) => inbox.some((m) => m.kind === "text" && m.message === "did you get this?"));
  const packetId = text.sent[0].packetIds[0];

  const delivered: number[] = [];
  const off = erin.events.on("delivered", (event) => delivered.push(...event.packetIds));
  loseNextReceipt = true;
  // The first answer with the receipt is lost; the SDK's retry (and the next syncs) hear of it again.
  await erin.sync();
  await erin.sync();
  await erin.sync();
  off();
  expect(lost).toEqual([packetId]);
  expect(delivered).toEqual([packetId]);
  // Acknowledged by erin's next Sync: the relay keeps it no longer.
  const { rows } = await db.query("SELECT packet_id FROM delivery_receipt WHERE recipient_pair_id = $1", [pairs.b]);
  expect(rows).toEqual([]);
});

test("the peer's break is reported as a `connection` event even when a refused Sync finds it before the 5/5 notice", async () => {
  const carol = await newDevice(stack);
  const dave = await newDevice(stack);
  const { a: carolSide, b: daveSide } = await pair(carol, dave, { a: "Dave", b: "Carol" });
  const events: Array<{ connection: string; status: string }> = [];
  dave.events.on("connection", ({ connection, status }) => events.push({ connection, status }));
  await carol.breakConnection(carolSide);
  // Dave's queued status goes to a pairID the relay now refuses: the Sync hears PermissionDenied,
  // learns from the server's list that the connection ended, and then fetches the 5/5 notice.
  await dave.sendStatus(SimpleStatus.ImOk, { to: daveSide, sync: false });
  await syncUntil(dave, (inbox) => inbox.some((m) => m.kind === "server" && m.type === 5 && m.subType === 5));
  expect((await dave.connection(daveSide)).status).toBe("broken");
  // Once, however the device learnt it (the CLI demo polled the stored status because this was missed).
  expect(events.filter((e) => e.connection === daveSide && e.status === "broken")).toHaveLength(1);
});

test("an invite the SDK makes is bound to the peer's code: a bystander who scanned the invite cannot confirm it", async () => {
  const erin = await newDevice(stack);
  const frank = await newDevice(stack);
  const mallory = await newDevice(stack);
  const offer = await erin.createOffer("Frank");
  const answer = await frank.answerOffer(offer.qr, "Erin");
  const invite = await erin.initiate(answer.qr, offer.connection);
  // Mallory photographs the third code and sends what it holds as her own confirm.
  const seen = decodeInviteQr(invite.qr);
  const connections = createClient(ConnectionService, createConnectTransport({ baseUrl: stack.gatewayUrl }));
  const { token } = await mallory.storage.read().then((state) => state.session!);
  const asMallory = { headers: { authorization: `Bearer ${token}` } };
  // As it is, it is not even a confirm (no key, no signature); signed with her own key, it is refused.
  await expect(connections.confirmConnection(seen, asMallory)).rejects.toMatchObject({ code: Code.InvalidArgument });
  const malloryKey = ed25519.keygen();
  const signed = {
    ...seen,
    recipientSigningPublicKey: malloryKey.publicKey,
    recipientSignature: ed25519.sign(confirmPayload(seen.senderPairId, seen.recipientPairId), malloryKey.secretKey),
  };
  await expect(connections.confirmConnection(signed, asMallory)).rejects.toMatchObject({ code: Code.PermissionDenied });
  // Mallory's SDK refuses it as not hers before any call.
  await expect(mallory.confirm(invite.qr)).rejects.toMatchObject({ reason: "qr-mismatch" });
  expect((await frank.confirm(invite.qr)).status).toBe("active");
});
