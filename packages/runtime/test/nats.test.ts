import { pino } from "pino";
import { events, inboxUpdated } from "@seeme/contracts/subjects";
import { collector, createTestBus } from "@seeme/testkit/nats";
import { waitUntil } from "@seeme/testkit/wait";
import { connectEventBus, consumerName } from "../src/nats.js";
import type { EventBus, EventMeta } from "../src/nats.js";

const log = pino({ level: "silent" });
const tb = createTestBus("runtime-nats");
let bus: EventBus;

beforeAll(async () => {
  bus = await connectEventBus({ url: tb.url, prefix: tb.prefix, name: "nats-test", log });
  await bus.ensureStreams();
});

afterAll(async () => {
  await bus.drain();
  await tb.cleanup();
});

const deleted = (n: string) => ({ eventId: `e-${n}`, accountId: `acct-${n}` });

test("typed publish and consume round trip", async () => {
  const got = collector<{ accountId: string; meta: EventMeta }>();
  const c = await bus.consume(events.accountDeleted, {
    durable: "roundtrip",
    handler: (m, meta) => got.push({ accountId: m.accountId, meta }),
  });
  expect(c.name).toBe(`${tb.prefix}_roundtrip-identity_v1_account_deleted`);
  expect(consumerName("", "location", events.connectionBroken.subject)).toBe(
    "location-connection_v1_connection_broken",
  );

  const ack = await bus.publish(events.accountDeleted, deleted("1"), { msgId: "rt-1" });
  expect(ack.duplicate).toBe(false);

  const [first] = await got.take(1);
  expect(first.accountId).toBe("acct-1");
  expect(first.meta).toMatchObject({
    subject: events.accountDeleted.subject,
    msgId: "rt-1",
    deliveryCount: 1,
    streamSeq: ack.streamSeq,
  });
  await c.stop();
});

test("the same msgId is stored and delivered once", async () => {
  const got = collector<string>();
  const c = await bus.consume(events.connectionBroken, { durable: "dedupe", handler: (m) => got.push(m.eventId) });

  const a = await bus.publish(events.connectionBroken, { eventId: "a" }, { msgId: "dd-a" });
  const again = await bus.publish(events.connectionBroken, { eventId: "a" }, { msgId: "dd-a" });
  await bus.publish(events.connectionBroken, { eventId: "b" }, { msgId: "dd-b" });

  expect(again).toEqual({ streamSeq: a.streamSeq, duplicate: true });
  // "b" was published last, so a second "a" would have arrived before it.
  expect(await got.take(2)).toEqual(["a", "b"]);
  await c.stop();
});

test("a failing handler gets the message redelivered", async () => {
  const attempts = collector<number>();
  const c = await bus.consume(events.inviteExpired, {
    durable: "retry",
    retryDelayMs: 50,
    handler: (_m, meta) => {
      attempts.push(meta.deliveryCount);
      if (meta.deliveryCount === 1) throw new Error("transient failure");
    },
  });
  await bus.publish(events.inviteExpired, { eventId: "x" }, { msgId: "retry-1" });
  expect(await attempts.take(2)).toEqual([1, 2]);
  await c.stop();
});

test("a durable consumer resumes where it stopped", async () => {
  const got = collector<string>();
  const opts = { durable: "resume", handler: (m: { eventId: string }) => got.push(m.eventId) };
  const first = await bus.consume(events.accountKeyRotated, opts);
  await bus.publish(events.accountKeyRotated, { eventId: "r1" }, { msgId: "resume-1" });
  await got.take(1);
  await first.stop();

  await bus.publish(events.accountKeyRotated, { eventId: "r2" }, { msgId: "resume-2" });
  await bus.publish(events.accountKeyRotated, { eventId: "r3" }, { msgId: "resume-3" });
  const second = await bus.consume(events.accountKeyRotated, opts);
  expect(await got.take(3)).toEqual(["r1", "r2", "r3"]);
  await second.stop();
});

test("core pub/sub carries live hints with the prefix stripped", async () => {
  const got = collector<{ accountId: string; subject: string }>();
  const sub = bus.subscribeCore(inboxUpdated.forAccount("*"), inboxUpdated.schema, (m, subject) =>
    got.push({ accountId: m.accountId, subject }),
  );
  // Round trip so the subscription is registered before publishing.
  await bus.ensureStreams(["IDENTITY"]);
  bus.publishCore(inboxUpdated.forAccount("acct-9"), inboxUpdated.schema, { accountId: "acct-9" });
  expect(await got.take(1)).toEqual([{ accountId: "acct-9", subject: "location.v1.inbox.updated.acct-9" }]);
  sub.unsubscribe();
});

test("isConnected reflects a closed connection", async () => {
  const other = await connectEventBus({ url: tb.url, prefix: tb.prefix, name: "nats-test-2", log });
  expect(other.isConnected()).toBe(true);
  expect(other.status()).toBe("connected");
  await other.drain();
  await waitUntil(() => !other.isConnected());
  expect(other.status()).toBe("closed");
});
