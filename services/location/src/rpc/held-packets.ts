/**
 * HeldPacketService: the sender of a held packet (check-in) cancels it or
 * moves its release, before it is released.
 *
 * Refusals:
 *   Unauthenticated   no verified caller (the guard)
 *   InvalidArgument   malformed pair_id; for a reschedule, release_at unset,
 *                     not in the future or more than seven days ahead
 *   NotFound          no held, unreleased packet the caller sent under
 *                     (pair_id, packet_id): one answer whether it never existed,
 *                     was released or cancelled, or is someone else's
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type {
  CancelHeldPacketRequest,
  CancelHeldPacketResponseSchema,
  RescheduleHeldPacketRequest,
  RescheduleHeldPacketResponseSchema,
} from "@seeme/contracts/location";
import { callerOf } from "@seeme/runtime/caller";
import type { LocationContext } from "../context.js";
import { isPairId } from "@seeme/contracts/protocol";
import { releaseTime } from "../validate.js";

export const NO_HELD_PACKET = "no held packet of yours with this pair_id and packet_id";

function requirePairId(pairId: string): void {
  if (!isPairId(pairId)) throw new ConnectError("pair_id must be 40 characters of [A-Za-z0-9]", Code.InvalidArgument);
}

export function cancelHeldPacket(ctx: LocationContext) {
  return async (
    req: CancelHeldPacketRequest,
    call: HandlerContext,
  ): Promise<MessageInitShape<typeof CancelHeldPacketResponseSchema>> => {
    const accountId = callerOf(call);
    requirePairId(req.pairId);
    const now = ctx.now();
    // The id stays in the idempotence record: a resend of it is not stored again.
    const count = await ctx.db.$executeRaw`
      DELETE FROM packet p USING route r
       WHERE p.recipient_pair_id = ${req.pairId} AND p.packet_id = ${req.packetId} AND p.held AND p.stored_at > ${now}
         AND r.pair_id = p.recipient_pair_id AND r.peer_account_id = ${accountId}`;
    if (count === 0) throw new ConnectError(NO_HELD_PACKET, Code.NotFound);
    return {};
  };
}

export function rescheduleHeldPacket(ctx: LocationContext) {
  return async (
    req: RescheduleHeldPacketRequest,
    call: HandlerContext,
  ): Promise<MessageInitShape<typeof RescheduleHeldPacketResponseSchema>> => {
    const accountId = callerOf(call);
    requirePairId(req.pairId);
    const now = ctx.now();
    if (req.releaseAt === undefined) throw new ConnectError("release_at is required", Code.InvalidArgument);
    const releaseAt = releaseTime("release_at", req.releaseAt, now);
    if (releaseAt === null)
      throw new ConnectError("release_at must be in the future; cancel the packet instead", Code.InvalidArgument);
    // The packet keeps its life (expires_at - stored_at) from the new release time;
    // its idempotence record lives seven days from the latest release time.
    const rows = await ctx.db.$transaction(async (tx) => {
      const moved = await tx.$queryRaw<Array<{ expires_at: Date }>>`
        UPDATE packet p SET stored_at = ${releaseAt}, expires_at = ${releaseAt}::timestamptz + (p.expires_at - p.stored_at)
          FROM route r
         WHERE p.recipient_pair_id = ${req.pairId} AND p.packet_id = ${req.packetId} AND p.held AND p.stored_at > ${now}
           AND r.pair_id = p.recipient_pair_id AND r.peer_account_id = ${accountId}
        RETURNING p.expires_at`;
      if (moved.length === 0) return moved;
      await tx.$executeRaw`
        UPDATE seen_packet SET seen_at = greatest(seen_at, ${releaseAt})
         WHERE recipient_pair_id = ${req.pairId} AND packet_id = ${req.packetId}`;
      await tx.$executeRaw`
        UPDATE seen_range SET touched_at = greatest(touched_at, ${releaseAt})
         WHERE recipient_pair_id = ${req.pairId} AND ${req.packetId} BETWEEN first AND last`;
      return moved;
    });
    if (rows.length === 0) throw new ConnectError(NO_HELD_PACKET, Code.NotFound);
    return { releaseAt: timestampFromDate(releaseAt), expireTime: timestampFromDate(rows[0].expires_at) };
  };
}
