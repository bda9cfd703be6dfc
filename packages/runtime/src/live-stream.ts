import type { MessageInitShape } from "@bufbuild/protobuf";
import type { IncomingPacket, SubscribeResponseSchema } from "@seeme/contracts/location";
import { BoundedSet } from "./bounded-set.js";
import type { LiveHub, LiveListener } from "./live-hub.js";

export type SubscribeEvent = MessageInitShape<typeof SubscribeResponseSchema>;

/**
 * Set by the gateway on its call to location's Subscribe when it holds the device's stream
 * itself: location sends what is queued, `caught_up`, and ends the call. The gateway never
 * passes a client's headers on, so only a service can ask for it.
 */
export const BACKLOG_ONLY_HEADER = "x-seeme-backlog-only";

// Hinted packets a stream holds while its client does not read; beyond, it re-reads its backlog.
const MAX_BUFFERED_PACKETS = 1000;
// Enough to remember a full backlog; older keys are forgotten first.
const REMEMBERED_KEYS = 20_000;

const keyOf = (packet: IncomingPacket) => `${packet.pairId}/${packet.packetId}`;

/**
 * Where a LiveFeed's events go: the stream that holds the device (the gateway's
 * raw relay implements it directly; `liveStream` adapts it to an async generator
 * for Connect handlers).
 */
export interface LiveSink {
  /**
   * What is queued for the account, oldest first: location reads its database,
   * the gateway reads location's Subscribe up to `caught_up`. Read once when the
   * feed starts and again whenever hints may have been lost; `signal` aborts
   * when the feed stops during the read.
   */
  backlog(signal: AbortSignal): AsyncIterable<IncomingPacket>;
  /** Sends one event; false when the client is not reading, and the feed waits for `drained`. */
  send(event: SubscribeEvent): boolean;
  /** Resolves once the client has read what `send` buffered, or is gone. */
  drained(): Promise<void>;
  /** The backlog read failed: the stream ends with this error. */
  failed(error: unknown): void;
}

// So that stopping a feed mid-read builds no DOMException.
const STOPPED = new Error("live feed stopped");

/**
 * One Subscribe stream's events: the queued backlog, `caught_up`, then live
 * packets as the hub announces them. The feed joins the hub before the backlog
 * is read, so nothing stored in between is missed; packets seen twice (in the
 * backlog and in a hint) are sent once. An idle feed costs no read, no timer
 * and no pending promise: it runs only while it has something to send, and it
 * re-reads its backlog only when the hub says hints may have been lost (a gap in
 * a publisher's numbering, NATS down or back).
 *
 * A client that stops reading must not make the process hold its traffic: at
 * most MAX_BUFFERED_PACKETS hinted packets wait in memory; past that the buffer
 * is dropped and the feed re-reads its backlog (the database is the source of
 * truth) once the client reads again.
 */
export class LiveFeed implements LiveListener {
  private readonly live: IncomingPacket[] = [];
  // Set when the buffer overflowed or hints may have been lost: the backlog is read instead.
  private resync = false;
  private running = false;
  private stopped = false;
  private leave?: () => void;
  private reading?: AbortController;
  // Keys of packets this feed already sent, bounded so a long stream stays small.
  private readonly sent = new BoundedSet<string>(REMEMBERED_KEYS);

  constructor(
    readonly hub: LiveHub,
    readonly accountId: string,
    private readonly sink: LiveSink,
  ) {}

  /** Joins the hub and sends the backlog and `caught_up`. */
  start(): void {
    if (this.stopped || this.leave) return;
    this.leave = this.hub.add(this.accountId, this);
    void this.run(true);
  }

  /** Leaves the hub and ends a backlog read under way; nothing is sent after. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.leave?.();
    this.reading?.abort(STOPPED);
  }

  packets(packets: IncomingPacket[]): void {
    if (this.resync) return;
    if (this.live.length + packets.length > MAX_BUFFERED_PACKETS) {
      this.live.length = 0;
      this.resync = true;
    } else {
      this.live.push(...packets);
    }
    this.wake();
  }

  reread(): void {
    this.live.length = 0;
    this.resync = true;
    this.wake();
  }

  private wake(): void {
    if (!this.running && !this.stopped) void this.run(false);
  }

  /** Sends what there is to send, then returns: an idle feed holds nothing pending. */
  private async run(opening: boolean): Promise<void> {
    this.running = true;
    try {
      if (opening) {
        await this.readBacklog();
        if (this.stopped) return;
        if (!this.sink.send({ event: { case: "caughtUp", value: true } })) await this.sink.drained();
      }
      while (!this.stopped && (this.live.length > 0 || this.resync)) {
        for (const packet of this.live.splice(0)) {
          if (this.stopped) return;
          await this.sendPacket(packet);
        }
        if (this.resync) {
          // Hints arriving during the re-read are buffered again; sent keys drop repeats.
          this.resync = false;
          await this.readBacklog();
        }
      }
    } catch (error) {
      if (!this.stopped) this.sink.failed(error);
    } finally {
      this.running = false;
    }
  }

  private async readBacklog(): Promise<void> {
    const reading = new AbortController();
    this.reading = reading;
    try {
      for await (const packet of this.sink.backlog(reading.signal)) {
        if (this.stopped) return;
        await this.sendPacket(packet);
      }
    } finally {
      this.reading = undefined;
    }
  }

  /** Sends a packet not sent before, waiting while the client does not read. */
  private sendPacket(packet: IncomingPacket): Promise<void> | undefined {
    if (!this.sent.add(keyOf(packet))) return undefined;
    return this.sink.send({ event: { case: "packet", value: packet } }) ? undefined : this.sink.drained();
  }
}

export interface LiveStreamOptions {
  hub: LiveHub;
  accountId: string;
  /** Ends the stream (the client left, the session ended, shutdown). */
  signal: AbortSignal;
  /** What is queued for the account, oldest first (LiveSink.backlog). */
  backlog(): AsyncIterable<IncomingPacket>;
}

/**
 * A LiveFeed as an async generator, for Connect handlers: it ends when `signal`
 * aborts, and throws what ended a backlog read. The feed waits for each event to
 * be taken, so a client that does not read holds at most one event here and the
 * feed's own bounded buffer.
 */
export async function* liveStream(options: LiveStreamOptions): AsyncGenerator<SubscribeEvent> {
  const { signal } = options;
  if (signal.aborted) return;
  const ready: SubscribeEvent[] = [];
  let failure: { error: unknown } | undefined;
  // The generator waits for an event; the feed waits for the generator to take one.
  let wake: (() => void) | undefined;
  let taken: (() => void) | undefined;
  const feed = new LiveFeed(options.hub, options.accountId, {
    backlog: () => options.backlog(),
    send(event) {
      ready.push(event);
      wake?.();
      return false;
    },
    drained: () =>
      new Promise<void>((resolve) => {
        taken = resolve;
      }),
    failed(error) {
      failure = { error };
      wake?.();
    },
  });
  const onAbort = () => {
    feed.stop();
    wake?.();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  feed.start();
  try {
    for (;;) {
      if (ready.length === 0 && !failure && !signal.aborted)
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      wake = undefined;
      if (signal.aborted) return;
      if (failure) throw failure.error;
      const resume = taken;
      taken = undefined;
      for (const event of ready.splice(0)) yield event;
      resume?.();
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    feed.stop();
    taken?.();
  }
}
