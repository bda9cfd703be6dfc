import { startPeriodic } from "@seeme/runtime/periodic";
import type { LocationContext } from "./context.js";
import { MAX_RETENTION_MS, oldestVisible } from "./db/retention.js";
import { compactSeen } from "./db/seen.js";
import { deleteOrphanedMessages } from "./db/server-messages.js";

// Outlives the JetStream streams' seven-day retention, so no redelivery can find its id gone.
const PROCESSED_EVENT_TTL_MS = MAX_RETENTION_MS + 24 * 60 * 60 * 1000;

/**
 * Deletes what has expired by the service clock and folds the idempotence
 * record (db/seen.ts); returns how many packets went. A held packet's stored_at
 * is its release time, so it never counts as old before it was released.
 */
export async function sweepOnce(ctx: LocationContext): Promise<number> {
  const now = ctx.now();
  const oldest = oldestVisible(now);
  const expired = { OR: [{ expiresAt: { lte: now } }, { storedAt: { lte: oldest } }] };
  const { count } = await ctx.db.packet.deleteMany({ where: expired });
  await ctx.db.serverMessage.deleteMany({ where: expired });
  await deleteOrphanedMessages(ctx.db);
  await ctx.db.deliveryReceipt.deleteMany({ where: { ackedAt: { lte: oldest } } });
  await compactSeen(ctx.db, now);
  await ctx.db.processedEvent.deleteMany({
    where: { processedAt: { lte: new Date(now.getTime() - PROCESSED_EVENT_TTL_MS) } },
  });
  return count;
}

/** Runs sweepOnce every `intervalMs` (never two at once); stop() waits for the pass in flight. */
export function startSweeper(ctx: LocationContext, intervalMs: number): { stop(): Promise<void> } {
  return startPeriodic(
    async () => {
      const count = await sweepOnce(ctx);
      if (count > 0) ctx.log.info({ packets: count }, "expired packets deleted");
    },
    { intervalMs, onError: (err) => ctx.log.warn({ err }, "sweep failed, will retry") },
  );
}
