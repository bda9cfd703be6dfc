import { startPeriodic } from "@seeme/runtime/periodic";
import type { ConnectionContext } from "./context.js";
import { expireInvite } from "./invites.js";

const BATCH = 100;

export interface InviteSweeper {
  /** One pass now; resolves with the number of invite.expired events recorded. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

/** Periodically removes expired invites (see expireInvite), one transaction per batch. */
export function startInviteSweeper(ctx: ConnectionContext, intervalMs: number): InviteSweeper {
  async function sweep(): Promise<number> {
    const now = ctx.now();
    let expired = 0;
    for (;;) {
      const batch = await ctx.db.invite.findMany({
        where: { expiresAt: { lte: now } },
        orderBy: { expiresAt: "asc" },
        take: BATCH,
      });
      if (batch.length === 0) break;
      expired += await ctx.db.$transaction(async (tx) => {
        let recorded = 0;
        for (const invite of batch) if (await expireInvite(tx, invite, now)) recorded++;
        return recorded;
      });
      if (batch.length < BATCH) break;
    }
    if (expired > 0) {
      ctx.log.info({ expired }, "expired invites removed");
      ctx.publishEvents();
    }
    return expired;
  }

  const loop = startPeriodic(sweep, {
    intervalMs,
    onError: (err) => ctx.log.error({ err }, "invite sweep failed, will retry"),
  });
  return { sweep, stop: loop.stop };
}
