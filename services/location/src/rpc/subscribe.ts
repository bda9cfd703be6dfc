import type { HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { InboxUpdatedSchema, type IncomingPacket, type SubscribeResponseSchema } from "@seeme/contracts/location";
import { inboxUpdated } from "@seeme/contracts/subjects";
import { callerOf } from "@seeme/runtime/caller";
import type { LocationContext } from "../context.js";
import { readInbox, type InboxCursor } from "../db/inbox.js";

type SubscribeResponse = MessageInitShape<typeof SubscribeResponseSchema>;

// Enough to remember a full backlog; older keys are forgotten first.
const REMEMBERED_KEYS = 20_000;

const keyOf = (packet: IncomingPacket) => `${packet.pairId}/${packet.packetId}`;

/** Keys of packets this stream already sent, bounded so a long stream stays small. */
class SentKeys {
  private readonly keys = new Set<string>();
  /** True the first time a key is offered. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > REMEMBERED_KEYS) this.keys.delete(this.keys.values().next().value!);
    return true;
  }
}

/**
 * Subscribe: the queued backlog oldest first, `caught_up`, then live packets as
 * they are stored. The live subscription opens before the backlog is read, so
 * nothing stored in between is missed; hints are best effort, so the stream also
 * re-reads the database periodically (a NATS outage delays, never loses, a packet).
 */
export function subscribe(ctx: LocationContext) {
  return async function* (_req: unknown, call: HandlerContext): AsyncGenerator<SubscribeResponse> {
    const accountId = callerOf(call);
    const live: IncomingPacket[] = [];
    let wake: (() => void) | undefined;
    const onHint = (hint: { packets: IncomingPacket[] }) => {
      live.push(...hint.packets);
      wake?.();
    };
    const subscriptions = [
      ctx.bus.subscribeCore(inboxUpdated.forAccount(accountId), InboxUpdatedSchema, onHint),
      ctx.bus.subscribeCore(inboxUpdated.broadcast, InboxUpdatedSchema, onHint),
    ];
    const sent = new SentKeys();
    const onAbort = () => wake?.();
    call.signal.addEventListener("abort", onAbort);

    async function* backlog(): AsyncGenerator<SubscribeResponse> {
      let cursor: InboxCursor | undefined;
      for (;;) {
        const page = await readInbox(ctx.db, accountId, ctx.now(), ctx.config.defaultPageSize, cursor);
        for (const entry of page) if (sent.add(keyOf(entry.packet))) yield { event: { case: "packet", value: entry.packet } };
        if (page.length < ctx.config.defaultPageSize || call.signal.aborted) return;
        cursor = page[page.length - 1].cursor;
      }
    }

    try {
      yield* backlog();
      yield { event: { case: "caughtUp", value: true } };
      let resyncAt = Date.now() + ctx.config.subscribeResyncMs;
      while (!call.signal.aborted) {
        if (live.length === 0) {
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
        for (const packet of live.splice(0)) if (sent.add(keyOf(packet))) yield { event: { case: "packet", value: packet } };
        if (Date.now() >= resyncAt) {
          yield* backlog();
          resyncAt = Date.now() + ctx.config.subscribeResyncMs;
        }
      }
    } finally {
      call.signal.removeEventListener("abort", onAbort);
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
  };
}
