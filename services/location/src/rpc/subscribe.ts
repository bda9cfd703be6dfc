import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { IncomingPacket } from "@seeme/contracts/location";
import { callerOf } from "@seeme/runtime/caller";
import { BACKLOG_ONLY_HEADER, liveStream, type SubscribeEvent } from "@seeme/runtime/live-stream";
import type { LocationContext } from "../context.js";
import { readInbox, type InboxCursor } from "../db/inbox.js";

/**
 * Subscribe: the queued backlog oldest first, `caught_up`, then live packets as
 * they are stored (@seeme/runtime/live-stream: the live hub, buffering, re-reads).
 * Each account may hold a few streams across all replicas. Devices on HTTP/2
 * have their streams held by the gateway instead (services/gateway/src/relay.ts),
 * which reads only the backlog here (BACKLOG_ONLY_HEADER).
 */
export function subscribe(ctx: LocationContext) {
  const openStreams = new Map<string, number>();
  return async function* (_req: unknown, call: HandlerContext): AsyncGenerator<SubscribeEvent> {
    const accountId = callerOf(call);
    // Pages of the inbox, oldest first, read a few streams at a time (the hub bounds concurrent reads).
    async function* backlog(): AsyncGenerator<IncomingPacket> {
      let cursor: InboxCursor | undefined;
      for (;;) {
        const at = cursor;
        const page = await ctx.live.read(() => readInbox(ctx.db, accountId, ctx.now(), ctx.config.defaultPageSize, at));
        for (const entry of page) yield entry.packet;
        if (page.length < ctx.config.defaultPageSize || call.signal.aborted) return;
        cursor = page[page.length - 1].cursor;
      }
    }
    if (call.requestHeader.get(BACKLOG_ONLY_HEADER) !== null) {
      // The gateway holds the device's stream (and counts it): a finite read needs no slot here.
      for await (const packet of backlog()) yield { event: { case: "packet", value: packet } };
      yield { event: { case: "caughtUp", value: true } };
      return;
    }
    const streams = openStreams.get(accountId) ?? 0;
    const cap = ctx.config.subscribeMaxStreamsPerAccount;
    // Shared across replicas when the lease store is there; the local count still bounds this replica.
    const lease = streams < cap ? await ctx.streamLeases?.acquireLease("subscribe", accountId, cap) : undefined;
    if (streams >= cap || (ctx.streamLeases && !lease)) {
      const message = `this account already has ${cap} open Subscribe streams; close one first`;
      throw new ConnectError(message, Code.ResourceExhausted);
    }
    openStreams.set(accountId, streams + 1);
    try {
      yield* liveStream({ hub: ctx.live, accountId, signal: call.signal, backlog });
    } finally {
      void lease?.release().catch(() => undefined);
      const left = openStreams.get(accountId)! - 1;
      if (left === 0) openStreams.delete(accountId);
      else openStreams.set(accountId, left);
    }
  };
}
