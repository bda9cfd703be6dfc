import { inboxUpdated } from "@seeme/contracts/subjects";
import type { IncomingPacket } from "@seeme/contracts/location";
import type { LocationContext } from "./context.js";

// 64 packets of at most a few KiB keep each hint well under NATS's 1 MiB payload limit.
const PACKETS_PER_HINT = 64;

/**
 * Tells whichever replica holds the account's Subscribe stream that packets
 * were stored (after commit). Best effort: the database stays the source of
 * truth; a lost hint shows as a gap in this process's numbering, and the
 * streams that may have missed it re-read the database.
 */
export function notifyInbox(
  ctx: Pick<LocationContext, "bus" | "log" | "live">,
  accountId: string | null,
  packets: IncomingPacket[],
  urgent = false,
): void {
  const subject = accountId === null ? inboxUpdated.broadcast : inboxUpdated.forAccount(accountId);
  try {
    for (let i = 0; i < packets.length; i += PACKETS_PER_HINT) {
      ctx.bus.publishCore(subject, inboxUpdated.schema, {
        accountId: accountId ?? "",
        packets: packets.slice(i, i + PACKETS_PER_HINT),
        urgent,
        // Numbered so a replica that misses one knows to re-read (@seeme/runtime/live-hub).
        ...ctx.live.nextHint(),
      });
    }
  } catch (err) {
    ctx.log.warn({ err }, "inbox hint not published");
  }
}
