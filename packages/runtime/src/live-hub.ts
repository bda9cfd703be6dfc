import { randomUUID } from "node:crypto";
import { InboxUpdatedSchema, type IncomingPacket } from "@seeme/contracts/location";
import { inboxUpdated, liveStream } from "@seeme/contracts/subjects";
import type { Logger } from "./logger.js";
import type { BusStatus, CoreSubscription, EventBus } from "./nats.js";

/** What one open Subscribe stream is told by the hub. */
export interface LiveListener {
  /** Packets a hint carried for the stream's account (or for everyone). */
  packets(packets: IncomingPacket[]): void;
  /** Hints may have been lost (a gap in a publisher's sequence, a NATS outage): read the database. */
  reread(): void;
}

// Publishers remembered for gap detection: replicas × restarts; the oldest is forgotten first.
const REMEMBERED_PUBLISHERS = 1000;
// Streams reading the database at once after a gap or during an outage (all of them would otherwise ask together).
const CONCURRENT_REREADS = 4;

/**
 * Live delivery for every Subscribe stream of this process (docs/hot-path.md):
 * location's (the streams it serves itself) and the gateway's (the streams it
 * holds for devices on the raw path, services/gateway/src/streams.ts).
 *
 * - one core NATS subscription for all inbox hints (`inbox.updated.*`), fanned
 *   out in memory to the streams of each account, instead of two subscriptions
 *   and a timer per stream; the hint carries the packets, so a push reads nothing;
 * - one presence subscription per account with a stream here (Web Push asks
 *   whether an account is live), shared by that account's streams;
 * - hints are numbered per publishing process; a gap means hints were lost
 *   (e.g. a publisher's reconnect buffer overflowed), and every stream here
 *   re-reads its backlog once. An idle stream reads nothing;
 * - while NATS is down, streams re-read their backlog every `pollMs`; when it is
 *   back they re-read once (hints sent meanwhile are gone) and stop polling.
 */
export class LiveHub {
  readonly publisher = randomUUID();
  private seq = 0n;
  private readonly accounts = new Map<string, { listeners: Set<LiveListener>; presence: CoreSubscription }>();
  private readonly lastSeq = new Map<string, bigint>();
  private readonly hints: CoreSubscription;
  private readonly stopWatching: () => void;
  private poller?: NodeJS.Timeout;
  private reading = 0;
  private readonly waiting: Array<() => void> = [];
  /** Re-reads asked of streams so far (gaps, reconnects, polls): idle streams add none. */
  rereads = 0;

  constructor(
    private readonly bus: EventBus,
    private readonly log: Logger,
    private readonly pollMs: number,
  ) {
    this.hints = bus.subscribeCore(inboxUpdated.forAccount("*"), InboxUpdatedSchema, (hint) => this.onHint(hint));
    this.stopWatching = bus.onStatus((status) => this.onStatus(status));
    if (bus.status() === "reconnecting") this.onStatus("reconnecting");
  }

  /** Streams open on this process. */
  get streams(): number {
    let count = 0;
    for (const { listeners } of this.accounts.values()) count += listeners.size;
    return count;
  }

  /** True while NATS is unreachable and streams poll the database. */
  get polling(): boolean {
    return this.poller !== undefined;
  }

  /** Numbers the next hint this process publishes (notify.ts). */
  nextHint(): { publisher: string; seq: bigint } {
    this.seq += 1n;
    return { publisher: this.publisher, seq: this.seq };
  }

  /** Registers a stream of `accountId`; the returned function unregisters it. */
  add(accountId: string, listener: LiveListener): () => void {
    let entry = this.accounts.get(accountId);
    if (!entry) {
      entry = { listeners: new Set(), presence: this.bus.answerProbes(liveStream.forAccount(accountId)) };
      this.accounts.set(accountId, entry);
    }
    const own = entry;
    own.listeners.add(listener);
    return () => {
      own.listeners.delete(listener);
      if (own.listeners.size === 0 && this.accounts.get(accountId) === own) {
        own.presence.unsubscribe();
        this.accounts.delete(accountId);
      }
    };
  }

  /** Runs a stream's database read, a few at a time. */
  async read<T>(query: () => Promise<T>): Promise<T> {
    if (this.reading >= CONCURRENT_REREADS) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.reading += 1;
    try {
      return await query();
    } finally {
      this.reading -= 1;
      this.waiting.shift()?.();
    }
  }

  stop(): void {
    this.hints.unsubscribe();
    this.stopWatching();
    clearInterval(this.poller);
    this.poller = undefined;
  }

  private onHint(hint: { accountId: string; packets: IncomingPacket[]; publisher: string; seq: bigint }): void {
    if (hint.publisher) {
      const last = this.lastSeq.get(hint.publisher);
      if (last === undefined || hint.seq > last) {
        this.lastSeq.delete(hint.publisher);
        this.lastSeq.set(hint.publisher, hint.seq);
        if (this.lastSeq.size > REMEMBERED_PUBLISHERS) this.lastSeq.delete(this.lastSeq.keys().next().value as string);
      }
      if (last !== undefined && hint.seq > last + 1n) {
        this.log.warn(
          { publisher: hint.publisher, missed: Number(hint.seq - last - 1n) },
          "live hints lost; re-reading",
        );
        this.rereadAll();
      }
    }
    if (hint.packets.length === 0) return;
    if (hint.accountId === "") {
      for (const { listeners } of this.accounts.values())
        for (const listener of listeners) listener.packets(hint.packets);
    } else {
      const entry = this.accounts.get(hint.accountId);
      if (entry) for (const listener of entry.listeners) listener.packets(hint.packets);
    }
  }

  private onStatus(status: BusStatus): void {
    if (status === "reconnecting" && !this.poller) {
      this.log.warn({ pollMs: this.pollMs }, "NATS unreachable: live streams poll the database until it is back");
      this.poller = setInterval(() => this.rereadAll(), this.pollMs);
      this.poller.unref();
    } else if (status !== "reconnecting" && this.poller) {
      clearInterval(this.poller);
      this.poller = undefined;
      // Hints published during the outage are gone, and sequences moved on meanwhile.
      this.lastSeq.clear();
      if (status === "connected") {
        this.log.info("NATS is back: live streams are pushed again");
        this.rereadAll();
      }
    }
  }

  private rereadAll(): void {
    for (const { listeners } of this.accounts.values())
      for (const listener of listeners) {
        this.rereads += 1;
        listener.reread();
      }
  }
}
