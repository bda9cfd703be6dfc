import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { events } from "@seeme/contracts/subjects";
import { collector, createTestBus } from "@seeme/testkit/nats";
import { waitUntil } from "@seeme/testkit/wait";
import { connectEventBus } from "../src/nats.js";
import type { EventBus } from "../src/nats.js";
import { encodeEvent, startOutboxRelay } from "../src/outbox.js";
import type { EventKey, OutboxRow, OutboxStore } from "../src/outbox.js";

const log = pino({ level: "silent" });
const tb = createTestBus("runtime-outbox");
let bus: EventBus;

beforeAll(async () => {
  bus = await connectEventBus({ url: tb.url, prefix: tb.prefix, name: "outbox-test", log });
  await bus.ensureStreams();
});

afterAll(async () => {
  await bus.drain();
  await tb.cleanup();
});

/** The outbox table of a service, in memory. */
function memoryStore() {
  const rows: (OutboxRow & { publishedAt: Date | null })[] = [];
  const store: OutboxStore = {
    fetchUnpublished: async (limit) => rows.filter((r) => !r.publishedAt).slice(0, limit),
    markPublished: async (ids) => {
      for (const r of rows) if (ids.includes(r.id)) r.publishedAt = new Date();
    },
  };
  const add = (event: EventKey, payload: Uint8Array) => {
    const row = { id: randomUUID(), event, payload, publishedAt: null };
    rows.push(row);
    return row;
  };
  return { rows, store, add, unpublished: () => rows.filter((r) => !r.publishedAt).length };
}

/** Consumers start from the stream's beginning: keep only this test's events (ids starting with `tag`). */
async function consumeBroken(tag: string) {
  const got = collector<string>();
  const c = await bus.consume(events.connectionBroken, {
    durable: tag,
    handler: (m) => {
      if (m.eventId.startsWith(tag)) got.push(m.eventId);
    },
  });
  return { got, c };
}

test("publishes rows in order and marks them", async () => {
  const { got, c } = await consumeBroken("o");
  const mem = memoryStore();
  for (const id of ["o1", "o2", "o3"]) mem.add("connectionBroken", encodeEvent("connectionBroken", { eventId: id }));

  const relay = startOutboxRelay({ store: mem.store, bus, log, intervalMs: 20, batchSize: 2 });
  expect(await got.take(3)).toEqual(["o1", "o2", "o3"]);
  await waitUntil(() => mem.unpublished() === 0);
  await relay.stop();
  await c.stop();
});

test("a crash between publish and mark yields exactly one delivered message", async () => {
  const { got, c } = await consumeBroken("c");
  const mem = memoryStore();
  mem.add("connectionBroken", encodeEvent("connectionBroken", { eventId: "c1" }));

  // The first process publishes, then dies before it can mark the row.
  const crashing: OutboxStore = {
    fetchUnpublished: mem.store.fetchUnpublished,
    markPublished: async () => {
      throw new Error("process died");
    },
  };
  const first = startOutboxRelay({ store: crashing, bus, log, intervalMs: 60_000 });
  await got.take(1);
  await first.stop();
  expect(mem.unpublished()).toBe(1);

  // The restarted process re-publishes the same row; JetStream drops the copy.
  const duplicates: boolean[] = [];
  const recording = {
    publishEncoded: async (...args: Parameters<EventBus["publishEncoded"]>) => {
      const ack = await bus.publishEncoded(...args);
      duplicates.push(ack.duplicate);
      return ack;
    },
  };
  mem.add("connectionBroken", encodeEvent("connectionBroken", { eventId: "c2" }));
  const second = startOutboxRelay({ store: mem.store, bus: recording, log, intervalMs: 60_000 });
  await waitUntil(() => mem.unpublished() === 0);
  await second.stop();

  expect(duplicates).toEqual([true, false]);
  // c2 came after the re-published c1, so a second c1 would have arrived first.
  expect(await got.take(2)).toEqual(["c1", "c2"]);
  await c.stop();
});

test("a failed publish is retried without reordering, and kick() skips the wait", async () => {
  const { got, c } = await consumeBroken("f");
  const mem = memoryStore();
  const ids = ["f1", "f2", "f3"].map(
    (id) => mem.add("connectionBroken", encodeEvent("connectionBroken", { eventId: id })).id,
  );

  let failOnce = true;
  const flaky = {
    publishEncoded: async (...args: Parameters<EventBus["publishEncoded"]>) => {
      if (args[2].msgId === ids[1] && failOnce) {
        failOnce = false;
        throw new Error("nats timeout");
      }
      return bus.publishEncoded(...args);
    },
  };
  // The poll interval is far beyond the test's run time: only kick() can finish it.
  const relay = startOutboxRelay({ store: mem.store, bus: flaky, log, intervalMs: 60_000 });
  await waitUntil(() => !failOnce);
  expect(got.items).toEqual(["f1"]);
  await waitUntil(() => mem.unpublished() === 2);

  relay.kick();
  expect(await got.take(3)).toEqual(["f1", "f2", "f3"]);
  await waitUntil(() => mem.unpublished() === 0);
  await relay.stop();
  await c.stop();
});

test("stop() finishes the batch in flight", async () => {
  const mem = memoryStore();
  for (const id of ["s1", "s2"]) mem.add("inviteExpired", encodeEvent("inviteExpired", { eventId: id }));
  let publishing!: () => void;
  const started = new Promise<void>((r) => (publishing = r));
  const slow = {
    publishEncoded: async (...args: Parameters<EventBus["publishEncoded"]>) => {
      publishing();
      await new Promise((r) => setTimeout(r, 50));
      return bus.publishEncoded(...args);
    },
  };
  const relay = startOutboxRelay({ store: mem.store, bus: slow, log, intervalMs: 60_000 });
  await started;
  await relay.stop();
  expect(mem.unpublished()).toBe(0);
  // Stopped: new rows stay put.
  mem.add("inviteExpired", encodeEvent("inviteExpired", { eventId: "s3" }));
  relay.kick();
  expect(mem.unpublished()).toBe(1);
});
