import type { EventMeta } from "@seeme/runtime/nats";
import type { LocationContext } from "../context.js";
import type { Queryable } from "../db/client.js";
import type { IncomingPacket } from "@seeme/contracts/location";
import { notifyInbox } from "../notify.js";

/** Server messages an event queued, pushed to their accounts after commit. */
export type Notices = Array<{ accountId: string; packet: IncomingPacket }>;

/**
 * Applies an event in one transaction with a record of its id, so a redelivery
 * (JetStream is at-least-once) changes nothing; then pushes the notices it made.
 */
export async function applyOnce(
  ctx: LocationContext,
  eventId: string,
  meta: EventMeta,
  apply: (tx: Queryable, now: Date) => Promise<Notices>,
): Promise<void> {
  const id = eventId || meta.msgId;
  const now = ctx.now();
  const notices = await ctx.db.$transaction(async (tx) => {
    if (id !== "") {
      const { count } = await tx.processedEvent.createMany({
        data: [{ eventId: id, processedAt: now }],
        skipDuplicates: true,
      });
      if (count === 0) return [];
    }
    return apply(tx, now);
  });
  for (const notice of notices) notifyInbox(ctx, notice.accountId, [notice.packet]);
}
