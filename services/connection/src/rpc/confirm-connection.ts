/**
 * ConfirmConnection (SPEC §3 step 4): B presents the server's invite signature;
 * the invite becomes a connection in which each account owns its own pairID and
 * may send only to the other's. connection.v1.connection.confirmed is recorded in
 * the same transaction (the initiator's type 5 / sub-type 3 notice).
 *
 * Refusals (nothing is written for any of them):
 *   Unauthenticated     no verified caller, or the caller's account was deleted
 *   InvalidArgument     a pairID is not 40 × [A-Za-z0-9], the two are equal,
 *                       server_signature is not 64 bytes, recipient_signing_public_key
 *                       is not 32 bytes, recipient_signature is not 64 bytes
 *   PermissionDenied    server_signature is not this server's signature over exactly
 *                       "see-me/connection/v1/invite\n" || sender || "\n" || recipient
 *                       || "\n" || recipient_signing_public_key (forged, for another
 *                       pair, or bound to another key);
 *                       recipient_signature is not the bound key's signature over
 *                       "see-me/connection/v1/confirm\n" || sender || "\n" || recipient
 *                       (a bystander who saw the invite code); or the caller made the invite
 *   NotFound            no invite for this pair (never made, expired and swept, or
 *                       its initiator's account was deleted)
 *   FailedPrecondition  the invite has expired, or was already used
 *   AlreadyExists       a pairID already belongs to another connection (now or in the past)
 *
 * Racing confirms of one invite: the conditional claim of the invite row (and
 * the used_pair_ids primary key behind it) lets exactly one commit. A confirm
 * racing the deletion of either account is serialised with it (accounts.ts).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  ConfirmStatus,
  type ConfirmConnectionRequest,
  type ConfirmConnectionResponseSchema,
} from "@seeme/contracts/connection";
import { callerOf } from "@seeme/runtime/caller";
import { ACCOUNT_GONE, deletedAmong, lockAccounts } from "../accounts.js";
import type { ConnectionContext } from "../context.js";
import { isUniqueViolation } from "@seeme/runtime/errors";
import type { Connection } from "../db/client.js";
import { recordEvent } from "@seeme/runtime/outbox";
import { toConnectionView, toRoute } from "../routes.js";
import { confirmPayload, invitePayload } from "@seeme/contracts/protocol";
import { verifyEd25519 } from "../signing-key.js";
import { requirePair, requirePublicKey, requireSignature } from "../validate.js";

const ALREADY_USED = "this invite was already used";
const NO_INVITE = "no invite for this pair; it may have expired";
const PAIR_ID_USED = "a pairID in this pair is already used by a connection";

export function confirmConnection(ctx: ConnectionContext) {
  return async (
    req: ConfirmConnectionRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof ConfirmConnectionResponseSchema>> => {
    const accountId = callerOf(hctx);
    const { senderPairId: sender, recipientPairId: recipient } = req;
    requirePair(sender, recipient);
    requireSignature("server_signature", req.serverSignature);
    const recipientKey = requirePublicKey(
      "recipient_signing_public_key",
      req.recipientSigningPublicKey,
      "the connection signing key whose public half was in this device's code",
    );
    requireSignature("recipient_signature", req.recipientSignature);
    // Every invite's signature covers the recipient's key, so it verifies only with that key,
    // and the confirm must be signed with it: the invite code alone confirms nothing.
    if (!ctx.signer.verify(invitePayload(sender, recipient, recipientKey), req.serverSignature)) {
      throw new ConnectError(
        "server_signature is not this server's invite signature for this pair and key",
        Code.PermissionDenied,
      );
    }
    if (!verifyEd25519(recipientKey, confirmPayload(sender, recipient), req.recipientSignature)) {
      throw new ConnectError(
        "recipient_signature is not the invited key's signature over this pair",
        Code.PermissionDenied,
      );
    }

    const now = ctx.now();
    let connection: Connection;
    try {
      connection = await ctx.db.$transaction(async (tx) => {
        const invite = await tx.invite.findUnique({
          where: { senderPairId_recipientPairId: { senderPairId: sender, recipientPairId: recipient } },
        });
        if (!invite) throw new ConnectError(NO_INVITE, Code.NotFound);
        // Under both accounts' locks: a deletion of either either committed
        // before (seen here) or waits and then breaks what this makes.
        await lockAccounts(tx, [accountId, invite.initiatorAccountId]);
        const deleted = await deletedAmong(tx, [accountId, invite.initiatorAccountId]);
        if (deleted.has(accountId)) throw new ConnectError(ACCOUNT_GONE, Code.Unauthenticated);
        if (deleted.has(invite.initiatorAccountId)) throw new ConnectError(NO_INVITE, Code.NotFound);
        if (invite.usedAt) throw new ConnectError(ALREADY_USED, Code.FailedPrecondition);
        if (invite.expiresAt <= now) throw new ConnectError("this invite has expired", Code.FailedPrecondition);
        if (invite.initiatorAccountId === accountId) {
          throw new ConnectError("an account cannot confirm its own invite", Code.PermissionDenied);
        }
        // Claimed before anything else is checked: a concurrent confirm of this
        // invite blocks here until the first commits, then matches nothing, so
        // the loser always hears "already used".
        const claimed = await tx.invite.updateMany({
          where: { id: invite.id, usedAt: null, expiresAt: { gt: now } },
          data: { usedAt: now },
        });
        if (claimed.count === 0) throw new ConnectError(ALREADY_USED, Code.FailedPrecondition);
        // A pairID used before (now or by a broken connection) fails this insert on the primary
        // key; the transaction, and with it the claim above, rolls back (AlreadyExists below).
        await tx.usedPairId.createMany({ data: [{ pairId: sender }, { pairId: recipient }] });
        const created = await tx.connection.create({
          data: {
            initiatorAccountId: invite.initiatorAccountId,
            initiatorPairId: sender,
            recipientAccountId: accountId,
            recipientPairId: recipient,
            packetLifeSeconds: invite.packetLifeSeconds,
            createdAt: now,
          },
        });
        await recordEvent(tx, "connectionConfirmed", { route: toRoute(created) });
        return created;
      });
    } catch (error) {
      // A pairID is already used: by an earlier connection, or by another invite confirmed concurrently.
      if (isUniqueViolation(error)) throw new ConnectError(PAIR_ID_USED, Code.AlreadyExists);
      throw error;
    }
    ctx.publishEvents();
    return { status: ConfirmStatus.CONFIRMED, connection: toConnectionView(connection, accountId, now) };
  };
}
