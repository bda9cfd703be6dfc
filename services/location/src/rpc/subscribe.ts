import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { IncomingPacket, SubscribeResponseSchema } from "@seeme/contracts/location";
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
 * they are stored. The stream joins the live hub (live.ts) before the backlog is
 * read, so nothing stored in between is missed. An idle stream costs no query
 * and no timer: it re-reads the database only when the hub says hints may have
 * been lost (a gap in a publisher's numbering, NATS down or back).
 *
 * A client that stops reading must not make the replica hold its traffic: at
 * most MAX_BUFFERED_PACKETS hinted packets wait in memory; past that the buffer
 * is dropped and the stream re-reads the database (the source of truth) once
 * the client reads again. Each account may hold a few streams across all replicas.
 */
export function subscribe(ctx: LocationContext) {
  const openStreams = new Map<string, number>();
  return async function* (_req: unknown, call: HandlerContext): AsyncGenerator<SubscribeResponse> {
    const accountId = callerOf(call);
    const streams = openStreams.get(accountId) ?? 0;
    const cap = ctx.config.subscribeMaxStreamsPerAccount;
    // Shared across replicas when the lease store is there; the local count still bounds this replica.
    const lease = streams < cap ? await ctx.streamLeases?.acquireLease("subscribe", accountId, cap) : undefined;
    if (streams >= cap || (ctx.streamLeases && !lease)) {
      const message = `this account already has ${cap} open Subscribe streams; close one first`;
      throw new ConnectError(message, Code.ResourceExhausted);
    }
    openStreams.set(accountId, streams + 1);
    const live: IncomingPacket[] = [];
    // Set when the buffer overflowed or hints may have been lost: the database is read instead.
    let resync = false;
    let wake: (() => void) | undefined;
    const leave = ctx.live.add(accountId, {
      packets(packets) {
        if (resync) return;
        if (live.length + packets.length > MAX_BUFFERED_PACKETS) {
          live.length = 0;
          resync = true;
        } else {
          live.push(...packets);
        }
        wake?.();
      },
      reread() {
        live.length = 0;
        resync = true;
        wake?.();
      },
    });
    // Keys of packets this stream already sent, bounded so a long stream stays small.
    const sent = new BoundedSet<string>(REMEMBERED_KEYS);
    const onAbort = () => wake?.();
    call.signal.addEventListener("abort", onAbort);

    async function* backlog(): AsyncGenerator<SubscribeResponse> {
      let cursor: InboxCursor | undefined;
      for (;;) {
        const at = cursor;
        const page = await ctx.live.read(() => readInbox(ctx.db, accountId, ctx.now(), ctx.config.defaultPageSize, at));
        for (const entry of page)
          if (sent.add(keyOf(entry.packet))) yield { event: { case: "packet", value: entry.packet } };
        if (page.length < ctx.config.defaultPageSize || call.signal.aborted) return;
        cursor = page[page.length - 1].cursor;
      }
    }

    try {
      yield* backlog();
      yield { event: { case: "caughtUp", value: true } };
      while (!call.signal.aborted) {
        if (live.length === 0 && !resync) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
        if (call.signal.aborted) return;
        for (const packet of live.splice(0))
          if (sent.add(keyOf(packet))) yield { event: { case: "packet", value: packet } };
        if (resync) {
          // Hints arriving during the re-read are buffered again; sent keys drop repeats.
          resync = false;
          yield* backlog();
        }
      }
    } finally {
      call.signal.removeEventListener("abort", onAbort);
      leave();
      void lease?.release().catch(() => undefined);
      const left = openStreams.get(accountId)! - 1;
      if (left === 0) openStreams.delete(accountId);
      else openStreams.set(accountId, left);
    }
  };
}
