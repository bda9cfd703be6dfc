import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { events } from "@seeme/contracts/subjects";
import type { EventBus } from "./nats.js";
import { startPeriodic } from "./periodic.js";
import { untraced } from "./tracing.js";

/** Key into the `events` catalogue, stored in the outbox row's subject column. */
export type EventKey = keyof typeof events;

export interface OutboxRow {
  /** uuid; also the JetStream msgId, so a re-publish is deduplicated. */
  id: string;
  event: EventKey;
  payload: Uint8Array;
}

/** What a service implements over its own outbox table. */
export interface OutboxStore {
  /** Oldest first (created_at, then id): the relay publishes in this order. */
  fetchUnpublished(limit: number): Promise<OutboxRow[]>;
  markPublished(ids: string[]): Promise<void>;
}

export interface OutboxRelayOptions {
  store: OutboxStore;
  bus: Pick<EventBus, "publishEncoded">;
  log: Logger;
  /** Poll period; also the retry delay after a failure. Default 1000. */
  intervalMs?: number;
  batchSize?: number;
}

export interface OutboxRelay {
  /** Publish now (call after committing a transaction that wrote outbox rows). */
  kick(): void;
  /** Stops polling; resolves after the batch in flight is published and marked. */
  stop(): Promise<void>;
}

/** Payload bytes for an outbox row of event `key`. */
export function encodeEvent<K extends EventKey>(
  key: K,
  message: MessageInitShape<(typeof events)[K]["schema"]>,
): Uint8Array {
  const schema = events[key].schema as (typeof events)[K]["schema"];
  return toBinary(schema, create(schema, message));
}

/** An event's fields; recordEvent sets its event_id. */
export type EventInit<K extends EventKey> = Omit<
  MessageInitShape<(typeof events)[K]["schema"]>,
  "eventId" | "$typeName"
>;

/** The columns recordEvent fills in every outbox table. */
export interface OutboxInsert {
  id: string;
  event: string;
  payload: Uint8Array<ArrayBuffer>;
}

/** A Prisma transaction (or client) of a service whose schema has an `OutboxEvent` model. */
export interface OutboxTx<Extra extends object> {
  outboxEvent: { create(args: { data: OutboxInsert & Extra }): PromiseLike<unknown> };
}

/**
 * The one outbox writer: writes event `key` in the caller's transaction, so it
 * exists exactly when the change it announces commits. The row id is both the
 * event_id and the JetStream msgId. `columns` fills a table's own extra columns
 * (identity's created_at). After the commit the service kicks its relay
 * (`publishEvents()` on every service context) so it need not wait for the poll.
 */
export async function recordEvent<K extends EventKey, Extra extends object = Record<never, never>>(
  tx: OutboxTx<Extra>,
  key: K,
  message: EventInit<K>,
  columns: Extra = {} as Extra,
): Promise<string> {
  const id = randomUUID();
  const payload = encodeEvent(key, { ...message, eventId: id } as MessageInitShape<(typeof events)[K]["schema"]>);
  // Prisma wants an ArrayBuffer-backed array; protobuf-es may hand out a view of a shared one.
  await tx.outboxEvent.create({ data: { ...columns, id, event: key, payload: new Uint8Array(payload) } });
  return id;
}

/**
 * Moves committed outbox rows to JetStream. At-least-once: a row is marked only
 * after JetStream acked it, so a crash in between re-publishes it with the same
 * msgId, which the stream's duplicate window drops. One pass runs at a time and
 * stops at the first failure, so rows are never published out of order.
 */
export function startOutboxRelay({
  store,
  bus,
  log,
  intervalMs = 1000,
  batchSize = 100,
}: OutboxRelayOptions): OutboxRelay {
  let stopped = false;

  async function pass(): Promise<void> {
    while (!stopped) {
      // The polls stay out of traces; each publish below starts its event's trace.
      const rows = await untraced(() => store.fetchUnpublished(batchSize));
      if (rows.length === 0) return;
      const acked: string[] = [];
      try {
        for (const row of rows) {
          const def = events[row.event];
          if (!def) throw new Error(`outbox row ${row.id} has unknown event "${row.event}"`);
          await bus.publishEncoded(def, row.payload, { msgId: row.id });
          acked.push(row.id);
        }
      } finally {
        // Mark what made it even when a later row failed, so it is not resent.
        if (acked.length > 0) await untraced(() => store.markPublished(acked));
      }
      if (rows.length < batchSize) return;
    }
  }

  // A kick during a pass runs another one after it: the commit may have landed after the fetch.
  const loop = startPeriodic(pass, {
    intervalMs,
    immediate: true,
    onError: (err) => log.error({ err }, "outbox relay pass failed, will retry"),
  });
  return {
    kick: loop.trigger,
    async stop() {
      stopped = true;
      await loop.stop();
    },
  };
}
