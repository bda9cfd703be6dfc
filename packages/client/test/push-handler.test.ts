import {
  MemoryStorage,
  SeeMeClient,
  SimpleStatus,
  encodeStatus,
  handlePush,
  isUrgent,
  isUrgentPayload,
  notificationUrl,
} from "@seeme/client";
import { startTestPushService, type TestPushService } from "@seeme/testkit/push-service";
import { startStack, type Stack } from "../../../test/stack.js";
import { waitUntil } from "@seeme/testkit/wait";

/**
 * The service worker's logic in Node: a real stack, two SDK devices, and a
 * push service of our own on loopback. Alice's SOS is sent marked urgent, Bob's
 * browser is woken at once with Urgency: high, and handlePush syncs, decrypts
 * and returns the notification a phone in a pocket must show.
 */
let stack: Stack;
let push: TestPushService;
let alice: SeeMeClient;
let bob: SeeMeClient;
let bobConnection: string;
let offset = 0;
const now = () => new Date(Date.now() + offset);
const openUrl = (connection?: string) =>
  connection ? `https://app.test/#/connection/${connection}` : "https://app.test/";

async function device(): Promise<SeeMeClient> {
  const client = new SeeMeClient({
    storage: new MemoryStorage(),
    gatewayUrl: stack.gatewayUrl,
    retry: { baseDelayMs: 50 },
  });
  await client.register();
  return client;
}

beforeAll(async () => {
  push = await startTestPushService();
  stack = await startStack("client_push", {
    now,
    env: { PUSH_ALLOWED_ORIGINS: "http://127.0.0.1", PUSH_FLUSH_INTERVAL: "50ms" },
  });
  alice = await device();
  bob = await device();
  const offer = await alice.createOffer("Bob");
  const answer = await bob.answerOffer(offer.qr, "Alice");
  const invite = await alice.initiate(answer.qr, offer.connection);
  await bob.confirm(invite.qr);
  bobConnection = answer.connection;
  await waitUntil(async () => {
    await alice.sync();
    return (await alice.connection(offer.connection)).status === "active";
  }, 10_000);
}, 30_000);

afterAll(async () => {
  await stack?.stop();
  await push?.close();
});

test("isUrgent marks SOS, I'm lost, I feel unsafe and I need urgent help — nothing else", () => {
  const urgent = Object.values(SimpleStatus).filter((status) => isUrgent(3, status));
  expect(urgent.sort()).toEqual(
    [SimpleStatus.ImLost, SimpleStatus.IFeelUnsafe, SimpleStatus.INeedUrgentHelp, SimpleStatus.Sos].sort(),
  );
  for (const type of [1, 2, 4, 5, 6]) expect(isUrgent(type, SimpleStatus.Sos)).toBe(false);
  const at = new Date("2026-12-01T01:00:00+10:00");
  expect(
    isUrgentPayload(encodeStatus({ status: SimpleStatus.Sos, sharing: true, sentAt: at, utcOffsetMinutes: 600 })),
  ).toBe(true);
  expect(
    isUrgentPayload(encodeStatus({ status: SimpleStatus.ImOk, sharing: true, sentAt: at, utcOffsetMinutes: 600 })),
  ).toBe(false);
  expect(isUrgentPayload("131-033.86760393347335+151.20859451303656000.0")).toBe(false);
});

test("an SOS wakes Bob's browser at once; the worker syncs, decrypts and shows it, requiring interaction", async () => {
  expect(Buffer.from(await bob.pushPublicKey(), "base64url")).toHaveLength(65);
  const subscription = push.subscribe();
  const browserSubscription = {
    endpoint: subscription.endpoint,
    keys: { p256dh: subscription.p256dh, auth: subscription.auth },
  };
  const expires = await bob.registerPush(browserSubscription);
  expect(expires!.getTime()).toBeGreaterThan(Date.now() + 3_600_000);

  await alice.sendStatus(SimpleStatus.Sos);
  await waitUntil(() => push.pushesTo(subscription.endpoint).length === 1);
  expect(push.pushesTo(subscription.endpoint)[0]).toMatchObject({
    urgency: "high",
    payload: JSON.stringify({ seeme: "new-packets" }),
  });
  expect(push.refused).toEqual([]);

  const { notifications, lastSeq } = await handlePush(bob, { after: 0, openUrl, subscription: browserSubscription });
  expect(notifications).toEqual([
    {
      title: "SOS — Alice",
      options: expect.objectContaining({
        body: "Alice: SOS. Tap to see where they are.",
        requireInteraction: true,
        renotify: true,
        vibrate: [500, 200, 500, 200, 500],
        data: { url: `https://app.test/#/connection/${bobConnection}`, connection: bobConnection },
      }),
    },
  ]);
  expect(notificationUrl(notifications[0].options.data)).toBe(`https://app.test/#/connection/${bobConnection}`);
  expect(lastSeq).toBeGreaterThan(0);

  // Normal messages within the minute are coalesced into one later wake-up; then each shows as an ordinary notification.
  await alice.sendStatus(SimpleStatus.OnMyWayHome);
  await alice.sendText("Home in ten, put the kettle on");
  await alice.sendLocation({ movement: 3, latitude: -33.86, longitude: 151.2, speedKmh: 4 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(push.pushesTo(subscription.endpoint)).toHaveLength(1);
  offset += 61_000;
  await waitUntil(() => push.pushesTo(subscription.endpoint).length === 2);
  expect(push.pushesTo(subscription.endpoint)[1].urgency).toBe("normal");

  const next = await handlePush(bob, { after: lastSeq, openUrl });
  expect(
    next.notifications.map((n) => [n.title, n.options.body, n.options.requireInteraction, n.options.vibrate]),
  ).toEqual([
    ["Alice", "On my way home", false, undefined],
    ["Alice", "Home in ten, put the kettle on", false, undefined],
  ]);
  expect(next.lastSeq).toBeGreaterThan(lastSeq);

  // A repeat wake-up with nothing new still shows something (browsers insist), quietly.
  const quiet = await handlePush(bob, { after: next.lastSeq, openUrl });
  expect(quiet.notifications).toEqual([
    expect.objectContaining({
      title: "see-me",
      options: expect.objectContaining({ silent: true, tag: "seeme-updates" }),
    }),
  ]);
  expect(quiet.lastSeq).toBe(next.lastSeq);

  await bob.unregisterPush(subscription.endpoint);
  await alice.sendStatus(SimpleStatus.Sos);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(push.pushesTo(subscription.endpoint)).toHaveLength(2);
});
