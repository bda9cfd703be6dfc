import { fromBinary } from "@bufbuild/protobuf";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { AckPolicy, DeliverPolicy, millis, nanos } from "nats";
import type { ConsumerConfig, JetStreamClient, JetStreamManager, JsMsg } from "nats";
import type { Logger } from "pino";
import { streamName, subjectName } from "@seeme/contracts/subjects";
import { withConsumeSpan } from "../tracing.js";
import type { EventDef } from "@seeme/contracts/subjects";

export interface EventMeta {
  /** Subject without the prefix. */
  subject: string;
  streamSeq: number;
  /** 1 on first delivery. */
  deliveryCount: number;
  /** The publisher's Nats-Msg-Id (the outbox row id); handlers can dedupe on it. */
  msgId: string;
  publishedAt: Date;
}

export type EventHandler<M extends DescMessage> = (message: MessageShape<M>, meta: EventMeta) => Promise<void> | void;

export interface ConsumeOptions<M extends DescMessage> {
  /** Logical consumer name, e.g. the service ("location"); see `consumerName`. */
  durable: string;
  handler: EventHandler<M>;
  /** Deliveries before giving up on a message; default -1 = retry forever (with backoff). */
  maxDeliver?: number;
  /**
   * How long a delivery may stay unacknowledged before redelivery. Default 5 s:
   * it is also how long the events a crashed instance had pulled wait before
   * another instance gets them (it was 30 s: routes of fresh connections lagged
   * that long after a location crash). A slow handler is not redelivered
   * meanwhile: it reports progress (`working()`) every half ack_wait.
   */
  ackWaitMs?: number;
  /** First retry delay after a failure, doubled per delivery, capped at 60 s. Default 1 s. */
  retryDelayMs?: number;
}

export interface ConsumerHandle {
  readonly name: string;
  /** Stops pulling and waits for the message being handled. */
  stop(): Promise<void>;
  /**
   * Resolves once everything stored before this call has been handled (nothing
   * pending, nothing unacknowledged, including what a crashed instance held),
   * or after `maxWaitMs`, with false then.
   */
  caughtUp(maxWaitMs: number): Promise<boolean>;
}

const MAX_RETRY_DELAY_MS = 60_000;
const DEFAULT_ACK_WAIT_MS = 5000;
const CATCH_UP_POLL_MS = 100;
// Small batches keep redelivery after a crash quick and memory flat.
const PULL_BATCH = 16;

/**
 * One JetStream consumer per (prefix, durable, event): nats-server 2.9 has no
 * multi-subject filters, so a service consuming two events of the same stream
 * needs two consumers, and the name must say which.
 * e.g. `location-connection_v1_connection_broken`, with prefix `t_x_location-…`.
 */
export function consumerName(prefix: string, durable: string, subject: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_");
  const base = `${safe(durable)}-${safe(subject)}`;
  return prefix ? `${safe(prefix)}_${base}` : base;
}

interface Deps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  log: Logger;
}

export async function startConsumer<M extends DescMessage>(
  { js, jsm, prefix, log }: Deps,
  def: EventDef<M>,
  opts: ConsumeOptions<M>,
): Promise<ConsumerHandle> {
  const stream = streamName(prefix, def.stream);
  const name = consumerName(prefix, opts.durable, def.subject);
  const maxDeliver = opts.maxDeliver ?? -1;
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const ackWaitMs = opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const config: Partial<ConsumerConfig> = {
    durable_name: name,
    filter_subject: subjectName(prefix, def.subject),
    ack_policy: AckPolicy.Explicit,
    // A new consumer sees the stream's retained history (7 days), so a service
    // deployed after an event still applies it.
    deliver_policy: DeliverPolicy.All,
    max_deliver: maxDeliver,
    ack_wait: nanos(ackWaitMs),
  };
  const exists = await jsm.consumers.info(stream, name).then(
    () => true,
    () => false,
  );
  if (exists) await jsm.consumers.update(stream, name, { max_deliver: config.max_deliver, ack_wait: config.ack_wait });
  else await jsm.consumers.add(stream, config);

  const clog = log.child({ consumer: name, subject: def.subject });
  // consume() re-pulls by itself after reconnects and missed heartbeats, and
  // the durable keeps the position on the server.
  const messages = await (await js.consumers.get(stream, name)).consume({ max_messages: PULL_BATCH });
  let stopping = false;

  async function handle(m: JsMsg): Promise<void> {
    const meta: EventMeta = {
      subject: def.subject,
      streamSeq: m.seq,
      deliveryCount: m.info.deliveryCount,
      msgId: m.headers?.get("Nats-Msg-Id") ?? "",
      publishedAt: new Date(millis(m.info.timestampNanos)),
    };
    // Logged fields are metadata only: payloads can link accounts to pairs.
    const where = { streamSeq: meta.streamSeq, deliveryCount: meta.deliveryCount, msgId: meta.msgId };
    let message: MessageShape<M>;
    try {
      message = fromBinary(def.schema, m.data);
    } catch (err) {
      // Retrying cannot fix bytes that do not decode.
      clog.error({ ...where, err }, "undecodable event dropped");
      m.term();
      return;
    }
    // Keeps a slow handler's message from being redelivered to another instance meanwhile.
    const progress = setInterval(() => m.working(), ackWaitMs / 2);
    try {
      await withConsumeSpan(def.subject, m.headers, () => opts.handler(message, meta));
      m.ack();
    } catch (err) {
      if (maxDeliver > 0 && meta.deliveryCount >= maxDeliver) {
        clog.error({ ...where, err }, "event handler failed, out of deliveries, dropping");
        m.term();
      } else {
        const delay = Math.min(retryDelayMs * 2 ** (meta.deliveryCount - 1), MAX_RETRY_DELAY_MS);
        clog.warn({ ...where, err, retryInMs: delay }, "event handler failed, will retry");
        m.nak(delay);
      }
    } finally {
      clearInterval(progress);
    }
  }

  // Sequential on purpose: events of one consumer are applied in stream order
  // (except a failed one, which is retried later).
  const loop = (async () => {
    try {
      for await (const m of messages) {
        // Already-pulled messages go back at once instead of waiting out ack_wait.
        if (stopping) m.nak();
        else await handle(m);
      }
    } catch (err) {
      clog.error({ err }, "consumer stopped with error");
    }
  })();
  clog.info("consumer started");

  return {
    name,
    async stop() {
      stopping = true;
      messages.stop();
      await loop;
    },
    async caughtUp(maxWaitMs) {
      const deadline = Date.now() + maxWaitMs;
      while (!stopping && Date.now() < deadline) {
        const info = await jsm.consumers.info(stream, name).catch(() => undefined);
        if (info && info.num_pending === 0 && info.num_ack_pending === 0) return true;
        await new Promise((resolve) => setTimeout(resolve, CATCH_UP_POLL_MS));
      }
      return false;
    },
  };
}
