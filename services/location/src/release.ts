import type { LocationContext } from "./context.js";
import { incomingPacket } from "./db/inbox.js";
import { notifyInbox } from "./notify.js";

/**
 * Releases held packets (check-in) that are due by the service clock: each is
 * marked released and its recipient's Subscribe streams get the hint, so it
 * arrives at once. It was already visible to Sync from its release time (its
 * stored_at); this only pushes it. Returns how many were released.
 */
export async function releaseDue(ctx: LocationContext): Promise<number> {
  const now = ctx.now();
  const rows = await ctx.db.$queryRaw<
    Array<{
      account_id: string;
      pair_id: string;
      packet_id: bigint;
      blob: Uint8Array;
      stored_at: Date;
      expires_at: Date;
    }>
  >`
    UPDATE packet p SET held = false FROM route r
     WHERE p.held AND p.stored_at <= ${now} AND r.pair_id = p.recipient_pair_id
    RETURNING r.account_id, p.recipient_pair_id AS pair_id, p.packet_id, p.blob, p.stored_at, p.expires_at`;
  const byAccount = new Map<string, ReturnType<typeof incomingPacket>[]>();
  for (const row of rows) {
    const packet = incomingPacket({
      pairId: row.pair_id,
      packetId: Number(row.packet_id),
      blob: row.blob,
      storedAt: row.stored_at,
      expiresAt: row.expires_at,
    });
    byAccount.set(row.account_id, [...(byAccount.get(row.account_id) ?? []), packet]);
  }
  for (const [accountId, packets] of byAccount) notifyInbox(ctx, accountId, packets);
  return rows.length;
}

/** Runs releaseDue every `intervalMs`, skipping a tick while a pass still runs; stop() waits for it. */
export function startReleaser(ctx: LocationContext, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= releaseDue(ctx)
      .then(() => undefined)
      .catch((err: unknown) => ctx.log.warn({ err }, "held packet release failed, will retry"))
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
