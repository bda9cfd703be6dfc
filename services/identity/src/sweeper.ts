import { startPeriodic } from "@seeme/runtime/periodic";
import type { IdentityContext } from "./context.js";
import { PUBLISHED_OUTBOX_RETENTION_MS } from "./db/outbox.js";

/** Deletes expired challenges and relayed outbox rows past their retention. */
export async function sweepExpired(ctx: IdentityContext): Promise<{ challenges: number; events: number }> {
  const now = ctx.now();
  const challenges = await ctx.db.challenge.deleteMany({ where: { expiresAt: { lte: now } } });
  const events = await ctx.db.outboxEvent.deleteMany({
    where: { publishedAt: { lte: new Date(now.getTime() - PUBLISHED_OUTBOX_RETENTION_MS) } },
  });
  return { challenges: challenges.count, events: events.count };
}

/** Runs sweepExpired every `intervalMs` (never two at once); stop() waits for the pass in flight. */
export function startSweeper(ctx: IdentityContext, intervalMs: number): { stop(): Promise<void> } {
  return startPeriodic(
    async () => {
      const swept = await sweepExpired(ctx);
      if (swept.challenges + swept.events > 0) ctx.log.debug(swept, "expired rows deleted");
    },
    { intervalMs, onError: (err) => ctx.log.warn({ err }, "sweep failed, will retry") },
  );
}
