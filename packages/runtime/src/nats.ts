import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { DiscardPolicy, ErrorCode, Events, NatsError, RetentionPolicy, StorageType, connect, nanos } from "nats";
import type { NatsConnection, StreamConfig } from "nats";
import type { Logger } from "pino";
import { streamName, streams, subjectName } from "@seeme/contracts/subjects";
import type { EventDef, StreamName } from "@seeme/contracts/subjects";
import { startConsumer } from "./nats/consumer.js";
import { followStream, type FollowHandle, type FollowOptions } from "./nats/follow.js";
import { withConsumeSpan, withPublishSpan, withPublishSpanSync } from "./tracing.js";
import type { ConsumeOptions, ConsumerHandle } from "./nats/consumer.js";

export { consumerName } from "./nats/consumer.js";
export type { ConsumeOptions, ConsumerHandle, EventMeta } from "./nats/consumer.js";
export type { FollowHandle, FollowOptions } from "./nats/follow.js";

export interface EventBusOptions {
  url: string;
  /** Subject/stream prefix ("" in production); isolates tests and tenants. */
  prefix: string;
  /** Connection name shown in NATS monitoring, e.g. the service name. */
  name: string;
  log: Logger;
  /** Stream replicas for `ensureStreams` (3 on a clustered NATS). Default 1. */
  replicas?: number;
}

export type BusStatus = "connected" | "reconnecting" | "closed";

export interface PublishResult {
  streamSeq: number;
  /** True when JetStream recognised the msgId and did not store it again. */
  duplicate: boolean;
}

export interface CoreSubscription {
  unsubscribe(): void;
}

export interface EventBus {
  readonly prefix: string;
  /** Creates or updates the catalogue's streams (all of them by default). */
  ensureStreams(names?: StreamName[]): Promise<void>;
  /** Publishes to JetStream and resolves once stored; the same msgId is stored once. */
  publish<M extends DescMessage>(
    def: EventDef<M>,
    message: MessageInitShape<M>,
    opts: { msgId: string },
  ): Promise<PublishResult>;
  /** Same as `publish` for an already encoded payload (the outbox stores bytes). */
  publishEncoded(def: EventDef, payload: Uint8Array, opts: { msgId: string }): Promise<PublishResult>;
  consume<M extends DescMessage>(def: EventDef<M>, opts: ConsumeOptions<M>): Promise<ConsumerHandle>;
  /** Every event of `stream` since `opts.since`, then live, to this process alone (see nats/follow.ts). */
  follow(stream: StreamName, opts: FollowOptions): Promise<FollowHandle>;
  /** Fire-and-forget core NATS publish (live hints, nothing stored). */
  publishCore<M extends DescMessage>(subject: string, schema: M, message: MessageInitShape<M>): void;
  /** Handler gets the subject without the prefix. Wildcards are allowed; a queue group shares the messages among its members. */
  subscribeCore<M extends DescMessage>(
    subject: string,
    schema: M,
    handler: (message: MessageShape<M>, subject: string) => void | Promise<void>,
    opts?: { queue?: string },
  ): CoreSubscription;
  /**
   * Core request with an empty body on `subject`: "answered" when a subscriber of
   * `answerProbes` replied, "none" when nobody listens (NATS says so at once);
   * rejects when NATS is unreachable or the answer takes longer than `timeoutMs`.
   */
  probe(subject: string, timeoutMs: number): Promise<"answered" | "none">;
  /** Answers every probe on `subject` (no wildcards needed) until unsubscribed. */
  answerProbes(subject: string): CoreSubscription;
  isConnected(): boolean;
  status(): BusStatus;
  /** Calls `listener` on every change of status (live delivery polls the database while NATS is away); returns "stop". */
  onStatus(listener: (status: BusStatus) => void): () => void;
  /** Stops consumers, then drains subscriptions and pending publishes and closes. */
  drain(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * How long each stream keeps an event. Consumers are expected to catch up
 * within that window; it bounds how long an outage may last, not normal lag.
 * CONNECTION events carry account ids together with pairIDs: the outbox rows
 * that held them are deleted as soon as they are published, so the link must
 * not live long anywhere else either, and a day covers any outage we plan for.
 * IDENTITY events carry account ids only.
 */
const STREAM_MAX_AGE_MS: Record<StreamName, number> = {
  IDENTITY: 7 * DAY_MS,
  CONNECTION: DAY_MS,
};
/**
 * CONNECTION uses interest retention: an event is deleted as soon as every
 * durable consumer of its subject has acknowledged it, so the account↔pairID
 * link it carries lives in NATS only while a consumer still needs it (the
 * max age above remains the bound for a consumer that is down). Work-queue
 * retention would allow one consumer per subject only; a plain short max age
 * would delete events a consumer has not seen yet during an outage.
 * IDENTITY events name accounts only and keep limits retention.
 */
const STREAM_RETENTION: Record<StreamName, RetentionPolicy> = {
  IDENTITY: RetentionPolicy.Limits,
  CONNECTION: RetentionPolicy.Interest,
};
// Must outlast the longest gap between a publish and its outbox mark, or a
// re-publish after a crash is stored twice.
const DUPLICATE_WINDOW_MS = 10 * 60 * 1000;

export async function connectEventBus(opts: EventBusOptions): Promise<EventBus> {
  const { prefix, log } = opts;
  // Never give up reconnecting: a NATS restart must not need a service restart.
  const nc: NatsConnection = await connect({ servers: opts.url, name: opts.name, maxReconnectAttempts: -1 });
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  // Everything that pulls from a stream: stopped first on drain.
  const consumers = new Set<Pick<ConsumerHandle, "stop">>();
  let state: BusStatus = "connected";
  const statusListeners = new Set<(status: BusStatus) => void>();
  const setState = (next: BusStatus) => {
    if (next === state) return;
    state = next;
    for (const listener of statusListeners) listener(next);
  };

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) {
        setState("reconnecting");
        log.warn({ server: s.data }, "nats disconnected, reconnecting");
      } else if (s.type === Events.Reconnect) {
        setState("connected");
        log.info({ server: s.data }, "nats reconnected");
      }
    }
  })();
  void nc.closed().then((err) => {
    setState("closed");
    if (err) log.error({ err }, "nats connection closed with error");
  });

  async function ensureStream(name: StreamName): Promise<void> {
    const full = streamName(prefix, name);
    const cfg: Partial<StreamConfig> = {
      name: full,
      subjects: [subjectName(prefix, streams[name].subjects)],
      storage: StorageType.File,
      retention: STREAM_RETENTION[name],
      discard: DiscardPolicy.Old,
      max_age: nanos(STREAM_MAX_AGE_MS[name]),
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      num_replicas: opts.replicas ?? 1,
    };
    const existing = await jsm.streams.info(full).catch(() => undefined);
    if (existing && existing.config.retention !== cfg.retention) {
      // NATS cannot change a stream's retention in place. An empty stream is
      // recreated (its consumers are recreated by their services at start);
      // one still holding events is left alone until it drains.
      if (existing.state.messages > 0) {
        log.error(
          { stream: full, messages: existing.state.messages },
          "stream has the old retention policy and still holds events; recreate it once empty",
        );
        return;
      }
      await jsm.streams.delete(full);
      await jsm.streams.add(cfg);
    } else if (existing) await jsm.streams.update(full, cfg);
    else await jsm.streams.add(cfg);
  }

  async function publishEncoded(
    def: EventDef,
    payload: Uint8Array,
    { msgId }: { msgId: string },
  ): Promise<PublishResult> {
    const ack = await withPublishSpan(def.subject, (headers) =>
      js.publish(subjectName(prefix, def.subject), payload, {
        msgID: msgId,
        // Fails loudly instead of silently landing in the wrong stream.
        expect: { streamName: streamName(prefix, def.stream) },
        headers,
      }),
    );
    return { streamSeq: ack.seq, duplicate: ack.duplicate };
  }

  return {
    prefix,
    async ensureStreams(names = Object.keys(streams) as StreamName[]) {
      for (const name of names) await ensureStream(name);
    },
    publish: (def, message, o) => publishEncoded(def, toBinary(def.schema, create(def.schema, message)), o),
    publishEncoded,
    async consume(def, o) {
      const handle = await startConsumer({ js, jsm, prefix, log }, def, o);
      consumers.add(handle);
      return {
        name: handle.name,
        caughtUp: (maxWaitMs) => handle.caughtUp(maxWaitMs),
        stop: async () => {
          consumers.delete(handle);
          await handle.stop();
        },
      };
    },
    async follow(stream, o) {
      const handle = await followStream({ js, jsm, prefix, log }, stream, o);
      // Stopped with the consumers on drain.
      const entry = { stop: () => handle.stop() };
      consumers.add(entry);
      return {
        caughtUp: handle.caughtUp,
        stop: async () => {
          consumers.delete(entry);
          await handle.stop();
        },
      };
    },
    publishCore(subject, schema, message) {
      // Named after the message type: a core subject may end in an account id.
      const data = toBinary(schema, create(schema, message));
      withPublishSpanSync(schema.typeName, (headers) => nc.publish(subjectName(prefix, subject), data, { headers }));
    },
    subscribeCore(subject, schema, handler, subOpts) {
      const strip = prefix ? prefix.length + 1 : 0;
      const sub = nc.subscribe(subjectName(prefix, subject), {
        queue: subOpts?.queue,
        callback: (err, m) => {
          if (err) return log.error({ err, subject }, "core subscription failed");
          void (async () => {
            try {
              const handle = () => handler(fromBinary(schema, m.data), m.subject.slice(strip));
              await withConsumeSpan(schema.typeName, m.headers, handle);
            } catch (e) {
              // Hints are best effort: clients resync anyway, so log and drop.
              log.warn({ err: e, subject }, "core message handler failed");
            }
          })();
        },
      });
      return { unsubscribe: () => sub.unsubscribe() };
    },
    async probe(subject, timeoutMs) {
      try {
        await nc.request(subjectName(prefix, subject), undefined, { timeout: timeoutMs });
        return "answered";
      } catch (err) {
        if (err instanceof NatsError && err.code === ErrorCode.NoResponders) return "none";
        throw err;
      }
    },
    answerProbes(subject) {
      const sub = nc.subscribe(subjectName(prefix, subject), { callback: (err, m) => void (err || m.respond()) });
      return { unsubscribe: () => sub.unsubscribe() };
    },
    isConnected: () => state === "connected" && !nc.isClosed(),
    onStatus(listener) {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    status: () => (nc.isClosed() ? "closed" : state),
    async drain() {
      await Promise.all([...consumers].map((c) => c.stop()));
      consumers.clear();
      if (!nc.isClosed()) await nc.drain();
    },
  };
}
