/**
 * InitiateConnection (SPEC §3 step 3): A's signed {sender, recipient} becomes a
 * pending invite tied to A's account, and the server's signature over the pair
 * goes back for A to show B as a QR code.
 *
 * Refusals (nothing is written for any of them):
 *   Unauthenticated     no verified caller, or the caller's account was deleted
 *   InvalidArgument     a pairID is not 40 × [A-Za-z0-9], the two are equal,
 *                       account_signature is not 64 bytes, packet_life is not positive,
 *                       recipient_signing_public_key is not 32 bytes (it is required)
 *   PermissionDenied    account_signature is not the caller's current account key
 *                       over "see-me/connection/v1/initiate\n" || sender || "\n" || recipient
 *   AlreadyExists       a pairID already belongs to a connection (now or in the past),
 *                       or another account holds a pending invite for the same pair
 *   ResourceExhausted   over the account's initiate rate (INITIATE_BURST, INITIATE_PER_MINUTE),
 *                       or it already holds MAX_PENDING_INVITES unused, unexpired invites
 *   Unavailable         the identity service cannot be reached (retry)
 *
 * Every invite is bound to B: recipient_signing_public_key (B's connection
 * signing key, from B's code) is covered by the server signature, and
 * ConfirmConnection must be signed with it (issue #16, defect 7: whoever saw
 * the invite code could otherwise confirm it in B's place).
 *
 * Repeating an initiate the caller already holds a pending invite for returns
 * that invite unchanged, so a client can retry after a lost response.
 * pairIDs are reserved only at confirm: they are random secrets shown only by
 * QR, and one pending invite per pair keeps an invite from being doubled.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, type Duration } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { InitiateConnectionRequest, InitiateConnectionResponseSchema } from "@seeme/contracts/connection";
import { callerOf } from "@seeme/runtime/caller";
import { ACCOUNT_GONE, deletedAmong, lockAccounts } from "../accounts.js";
import type { ConnectionContext } from "../context.js";
import { isUniqueViolation } from "@seeme/runtime/errors";
import type { Invite } from "../db/client.js";
import { verifyAccountSignature } from "../identity.js";
import { expireInvite } from "../invites.js";
import { MAX_PACKET_LIFE_SECONDS } from "../routes.js";
import { initiatePayload, invitePayload } from "@seeme/contracts/protocol";
import { requirePair, requirePublicKey, requireSignature } from "../validate.js";

/** Unset or longer than seven days means seven days; whole seconds, rounded up. */
function packetLifeSeconds(life: Duration | undefined): number {
  if (!life) return MAX_PACKET_LIFE_SECONDS;
  const seconds = Number(life.seconds) + life.nanos / 1e9;
  if (!(seconds > 0)) throw new ConnectError("packet_life must be positive", Code.InvalidArgument);
  return Math.min(Math.ceil(seconds), MAX_PACKET_LIFE_SECONDS);
}

const PAIR_ID_USED = "a pairID in this pair is already used by a connection";

export function initiateConnection(ctx: ConnectionContext) {
  return async (
    req: InitiateConnectionRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof InitiateConnectionResponseSchema>> => {
    const accountId = callerOf(hctx);
    const { senderPairId: sender, recipientPairId: recipient } = req;
    requirePair(sender, recipient);
    requireSignature("account_signature", req.accountSignature);
    const recipientKey = requirePublicKey(
      "recipient_signing_public_key",
      req.recipientSigningPublicKey,
      "the recipient's connection signing key from its code, which binds the invite to it",
    );
    const lifeSeconds = packetLifeSeconds(req.packetLife);
    // Before the identity call: a flood must cost neither service anything.
    await ctx.limits.initiate.take(accountId, "connection invites by this account");
    await verifyAccountSignature(ctx, accountId, initiatePayload(sender, recipient), req.accountSignature);

    const now = ctx.now();
    let expiredOld = false;
    let invite: Invite;
    try {
      invite = await ctx.db.$transaction(async (tx) => {
        // Under the account's lock: a deletion either committed before (seen
        // here) or waits and then drops the invite this makes.
        await lockAccounts(tx, [accountId]);
        if ((await deletedAmong(tx, [accountId])).size > 0) throw new ConnectError(ACCOUNT_GONE, Code.Unauthenticated);
        if ((await tx.usedPairId.count({ where: { pairId: { in: [sender, recipient] } } })) > 0) {
          throw new ConnectError(PAIR_ID_USED, Code.AlreadyExists);
        }
        const existing = await tx.invite.findUnique({
          where: { senderPairId_recipientPairId: { senderPairId: sender, recipientPairId: recipient } },
        });
        if (existing && existing.expiresAt > now) {
          if (existing.initiatorAccountId === accountId && !existing.usedAt) return existing;
          throw new ConnectError("a pending invite for this pair already exists", Code.AlreadyExists);
        }
        // Counted under the account's lock, so concurrent initiates cannot overshoot.
        const pending = await tx.invite.count({
          where: { initiatorAccountId: accountId, usedAt: null, expiresAt: { gt: now } },
        });
        if (pending >= ctx.config.maxPendingInvites) {
          throw new ConnectError(
            `this account already holds ${pending} pending invites; at most ${ctx.config.maxPendingInvites}`,
            Code.ResourceExhausted,
          );
        }
        // An expired invite the sweeper has not reached yet gives way to the new one.
        if (existing) expiredOld = await expireInvite(tx, existing, now);
        return tx.invite.create({
          data: {
            initiatorAccountId: accountId,
            senderPairId: sender,
            recipientPairId: recipient,
            packetLifeSeconds: lifeSeconds,
            createdAt: now,
            expiresAt: new Date(now.getTime() + ctx.config.inviteTtlMs),
          },
        });
      });
    } catch (error) {
      // A concurrent initiate of the same pair committed first.
      if (isUniqueViolation(error))
        throw new ConnectError("a pending invite for this pair already exists", Code.AlreadyExists);
      throw error;
    }
    if (expiredOld) ctx.publishEvents();
    return {
      // Bound to the recipient's key: only its holder can confirm.
      serverSignature: ctx.signer.sign(invitePayload(sender, recipient, recipientKey)),
      expireTime: timestampFromDate(invite.expiresAt),
    };
  };
}
