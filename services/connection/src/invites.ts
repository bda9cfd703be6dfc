import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Invite, Tx } from "./db/client.js";
import { recordEvent } from "@seeme/runtime/outbox";

/**
 * Removes an invite past its expiry. An unused one also records
 * connection.v1.invite.expired (the initiator's type 5 / sub-type 4 notice); a
 * used one just goes, its connection already exists. Returns whether an event
 * was recorded; the conditional delete makes racing sweepers emit it once.
 */
export async function expireInvite(tx: Tx, invite: Invite, now: Date): Promise<boolean> {
  if (invite.usedAt) {
    await tx.invite.deleteMany({ where: { id: invite.id } });
    return false;
  }
  const { count } = await tx.invite.deleteMany({ where: { id: invite.id, usedAt: null, expiresAt: { lte: now } } });
  if (count === 0) return false;
  await recordEvent(tx, "inviteExpired", {
    initiatorAccountId: invite.initiatorAccountId,
    senderPairId: invite.senderPairId,
    recipientPairId: invite.recipientPairId,
    expireTime: timestampFromDate(invite.expiresAt),
  });
  return true;
}
