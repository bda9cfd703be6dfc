import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { InboxUpdatedSchema, type IncomingPacket, type SubscribeResponseSchema } from "@seeme/contracts/location";
import { inboxUpdated, liveStream } from "@seeme/contracts/subjects";
import { BoundedSet } from "@seeme/runtime/bounded-set";
import { callerOf } from "@seeme/runtime/caller";
import type { LocationContext } from "../context.js";
import { readInbox, type InboxCursor } from "../db/inbox.js";

type SubscribeResponse = MessageInitShape<typeof SubscribeResponseSchema>;

// Hinted packets a stream holds while its client does not read; beyond, it re-reads the database.
const MAX_BUFFERED_PACKETS = 1000;
// Enough to remember a full backlog; older keys are forgotten first.
const REMEMBERED_KEYS = 20_000;

const keyOf = (packet: IncomingPacket) => `${packet.pairId}/${packet.packetId}`;

/**
 * Subscribe: the queued backlog oldest first, `caught_up`, then live packets as
 * they are stored. The live subscription opens before the backlog is read, so
 * nothing stored in between is missed; hints are best effort, so the stream also
 * re-reads the database periodically (a NATS outage delays, never loses, a packet).
 *
 * A client that stops reading must not make the replica hold its traffic: at
 * most MAX_BUFFERED_PACKETS hinted packets wait in memory; past that the buffer
 * is dropped and the stream re-reads the database (the source of truth) once
 * the client reads again. Each account may hold a few streams per replica.
 */
export function subscribe(ctx: LocationContext) {
  const openStreams = new Map<string, number>();
  return async function* (_req: unknown, call: HandlerContext): AsyncGenerator<SubscribeResponse> {
    const accountId = callerOf(call);
    const streams = openStreams.get(accountId) ?? 0;
    if (streams >= ctx.config.subscribeMaxStreamsPerAccount) {
      throw new ConnectError(
        `this account already has ${streams} open Subscribe streams; close one first`,
        Code.ResourceExhausted,
      );
    }
    openStreams.set(accountId, streams + 1);
    const live: IncomingPacket[] = [];
    // Set when the buffer overflowed: the hinted packets are read from the database instead.
    let resync = false;
    let wake: (() => void) | undefined;
    const onHint = (hint: { packets: IncomingPacket[] }) => {
      if (resync) return;
      if (live.length + hint.packets.length > MAX_BUFFERED_PACKETS) {
        live.length = 0;
        resync = true;
      } else {
        live.push(...hint.packets);
      }
      wake?.();
    };
    const subscriptions = [
      ctx.bus.subscribeCore(inboxUpdated.forAccount(accountId), InboxUpdatedSchema, onHint),
      ctx.bus.subscribeCore(inboxUpdated.broadcast, InboxUpdatedSchema, onHint),
      // Tells the Web Push notifier (push/) on any replica that this account needs no wake-up.
      ctx.bus.answerProbes(liveStream.forAccount(accountId)),
    ];
    // Keys of packets this stream already sent, bounded so a long stream stays small.
    const sent = new BoundedSet<string>(REMEMBERED_KEYS);
    const onAbort = () => wake?.();
    call.signal.addEventListener("abort", onAbort);

    async function* backlog(): AsyncGenerator<SubscribeResponse> {
      let cursor: InboxCursor | undefined;
      for (;;) {
        const page = await readInbox(ctx.db, accountId, ctx.now(), ctx.config.defaultPageSize, cursor);
        for (const entry of page)
          if (sent.add(keyOf(entry.packet))) yield { event: { case: "packet", value: entry.packet } };
        if (page.length < ctx.config.defaultPageSize || call.signal.aborted) return;
        cursor = page[page.length - 1].cursor;
      }
    }

    try {
      yield* backlog();
      yield { event: { case: "caughtUp", value: true } };
      let resyncAt = Date.now() + ctx.config.subscribeResyncMs;
      while (!call.signal.aborted) {
        if (live.length === 0 && !resync) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.max(0, resyncAt - Date.now()));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
        if (call.signal.aborted) return;
        for (const packet of live.splice(0))
          if (sent.add(keyOf(packet))) yield { event: { case: "packet", value: packet } };
        if (resync || Date.now() >= resyncAt) {
          // Hints arriving during the re-read are buffered again; sent keys drop repeats.
          resync = false;
          yield* backlog();
          resyncAt = Date.now() + ctx.config.subscribeResyncMs;
        }
      }
    } finally {
      call.signal.removeEventListener("abort", onAbort);
      for (const subscription of subscriptions) subscription.unsubscribe();
      const left = openStreams.get(accountId)! - 1;
      if (left === 0) openStreams.delete(accountId);
      else openStreams.set(accountId, left);
    }
  };
}
