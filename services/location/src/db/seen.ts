import type { LocationDb } from "./client.js";
import { oldestVisible } from "./retention.js";

/**
 * The idempotence record (SPEC §8: a stored (pairID, packetID) is never
 * delivered again within seven days). Sync adds one seen_packet row per stored
 * packet; this folds them into seen_range runs of consecutive ids. Senders
 * number packets consecutively, so each pairID keeps one range plus one per gap
 * in its ids, however many packets it received: the bookkeeping is bounded by
 * gaps, not by traffic. A run whose newest id became visible more than seven
 * days ago is dropped, and so is a leftover seen_packet row of that age.
 *
 * One statement per pass, so a Sync sees every id either as a row or inside a
 * range, never in neither; passes are serialised (a second replica's sweeper
 * waits) because two folds of the same pairID would write the same range.
 * Returns how many seen_packet rows were folded.
 */
export async function compactSeen(db: LocationDb, now: Date): Promise<number> {
  const oldest = oldestVisible(now);
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('location-seen-compaction'))`;
      await tx.seenRange.deleteMany({ where: { touchedAt: { lte: oldest } } });
      await tx.seenPacket.deleteMany({ where: { seenAt: { lte: oldest } } });
      const rows = await tx.$queryRaw<Array<{ folded: bigint }>>`
      WITH moved AS (
        DELETE FROM seen_packet RETURNING recipient_pair_id, packet_id, seen_at
      ), old AS (
        DELETE FROM seen_range r WHERE r.recipient_pair_id IN (SELECT DISTINCT recipient_pair_id FROM moved)
        RETURNING r.recipient_pair_id, r.first, r.last, r.touched_at
      ), items AS (
        SELECT recipient_pair_id, packet_id AS first, packet_id AS last, seen_at AS touched FROM moved
        UNION ALL
        SELECT recipient_pair_id, first, last, touched_at FROM old
      ), ordered AS (
        SELECT *, max(last) OVER (PARTITION BY recipient_pair_id ORDER BY first, last
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
          FROM items
      ), grouped AS (
        SELECT *, sum(CASE WHEN reach IS NULL OR first > reach + 1 THEN 1 ELSE 0 END)
                    OVER (PARTITION BY recipient_pair_id ORDER BY first, last) AS run
          FROM ordered
      ), written AS (
        INSERT INTO seen_range (recipient_pair_id, first, last, touched_at)
        SELECT recipient_pair_id, min(first), max(last), max(touched) FROM grouped GROUP BY recipient_pair_id, run
      )
      SELECT count(*) AS folded FROM moved`;
      return Number(rows[0].folded);
    },
    { timeout: 60_000 },
  );
}
