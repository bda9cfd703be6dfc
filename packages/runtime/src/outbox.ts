import { create, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { events } from "@seeme/contracts/subjects";
import type { EventBus } from "./nats.js";

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
export function encodeEvent<K extends EventKey>(key: K, message: MessageInitShape<(typeof events)[K]["schema"]>): Uint8Array {
  const schema = events[key].schema as (typeof events)[K]["schema"];
  return toBinary(schema, create(schema, message));
}

/**
 * Moves committed outbox rows to JetStream. At-least-once: a row is marked only
 * after JetStream acked it, so a crash in between re-publishes it with the same
 * msgId, which the stream's duplicate window drops. One pass runs at a time and
 * stops at the first failure, so rows are never published out of order.
 */
export function startOutboxRelay({ store, bus, log, intervalMs = 1000, batchSize = 100 }: OutboxRelayOptions): OutboxRelay {
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  async function pass(): Promise<void> {
    while (!stopped) {
      const rows = await store.fetchUnpublished(batchSize);
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
        if (acked.length > 0) await store.markPublished(acked);
      }
      if (rows.length < batchSize) return;
    }
  }

  function schedule(): void {
    // unref: a relay someone forgot to stop must not keep the process alive.
    if (!stopped) timer = setTimeout(trigger, intervalMs).unref();
  }

  function trigger(): void {
    if (stopped) return;
    if (running) {
      // A commit may have landed after the running pass fetched: go again.
      again = true;
      return;
    }
    clearTimeout(timer);
    running = pass()
      .catch((err: unknown) => log.error({ err }, "outbox relay pass failed, will retry"))
      .finally(() => {
        running = null;
        if (again && !stopped) {
          again = false;
          trigger();
        } else schedule();
      });
  }

  trigger();
  return {
    kick: trigger,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
