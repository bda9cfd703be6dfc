import type { Duration } from "@bufbuild/protobuf/wkt";
import type { Route as ConnectionRoute } from "@seeme/contracts/connection";
import type { Queryable } from "./client.js";
import { packetLifeMs } from "./retention.js";

function durationMs(duration: Duration | undefined): number {
  return duration ? Number(duration.seconds) * 1000 + Math.floor(duration.nanos / 1_000_000) : 0;
}

/**
 * Transaction-scoped advisory locks, one per id, taken in id order. `kind`
 * keeps the kinds' keys apart.
 */
async function lock(tx: Queryable, kind: "account" | "pair", ids: string[]): Promise<void> {
  for (const id of [...new Set(ids)].sort()) {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`location-${kind}:${id}`}))`;
  }
}

/**
 * Adds connections to the projection, both sides, unless already known, broken
 * (retired pairIDs never come back) or of a revoked account. Must run inside a
 * transaction.
 */
export async function saveRoutes(tx: Queryable, routes: ConnectionRoute[]): Promise<void> {
  // Both sides are always added together: a known initiator side means a known
  // connection, so a lookup of an account with many connections locks only the new ones.
  const known = new Set(
    (
      await tx.route.findMany({
        where: { pairId: { in: routes.map((route) => route.initiatorPairId) } },
        select: { pairId: true },
      })
    ).map((route) => route.pairId),
  );
  for (const route of routes) {
    if (known.has(route.initiatorPairId)) continue;
    // Locks: see revokePairs and revokeAccount. Accounts before pairIDs, as they take them.
    const accountIds = [route.initiatorAccountId, route.recipientAccountId];
    await lock(tx, "account", accountIds);
    const pairIds = [route.initiatorPairId, route.recipientPairId];
    await lock(tx, "pair", pairIds);
    const retired = await tx.retiredPair.count({ where: { pairId: { in: pairIds } } });
    if (retired > 0) continue;
    if ((await tx.retiredAccount.count({ where: { accountId: { in: accountIds } } })) > 0) continue;
    const lifeMs = packetLifeMs(durationMs(route.packetLife));
    await tx.route.createMany({
      skipDuplicates: true,
      data: [
        {
          pairId: route.initiatorPairId,
          accountId: route.initiatorAccountId,
          peerPairId: route.recipientPairId,
          peerAccountId: route.recipientAccountId,
          connectionId: route.connectionId,
          packetLifeMs: lifeMs,
        },
        {
          pairId: route.recipientPairId,
          accountId: route.recipientAccountId,
          peerPairId: route.initiatorPairId,
          peerAccountId: route.initiatorAccountId,
          connectionId: route.connectionId,
          packetLifeMs: lifeMs,
        },
      ],
    });
  }
}

/**
 * Removes pairIDs from the projection for good, with everything queued for
 * them and every receipt about them.
 */
export async function retirePairs(tx: Queryable, pairIds: string[], now: Date): Promise<void> {
  await tx.route.deleteMany({ where: { pairId: { in: pairIds } } });
  await tx.retiredPair.createMany({
    data: pairIds.map((pairId) => ({ pairId, retiredAt: now })),
    skipDuplicates: true,
  });
  await tx.packet.deleteMany({ where: { recipientPairId: { in: pairIds } } });
  await tx.deliveryReceipt.deleteMany({
    where: { OR: [{ recipientPairId: { in: pairIds } }, { senderPairId: { in: pairIds } }] },
  });
  // A retired pairID refuses every send, so its idempotence record has no use left.
  await tx.seenPacket.deleteMany({ where: { recipientPairId: { in: pairIds } } });
  await tx.seenRange.deleteMany({ where: { recipientPairId: { in: pairIds } } });
}

/**
 * Retires pairIDs with the locks Sync and the projection expect. First the
 * pairIDs' projection locks, so a lookup or rebuild that read the connection
 * before the break and is saving it now (its rows not yet visible here)
 * commits first, and is retired here with the rest; one that starts later
 * finds the pairIDs retired. Then the route rows in pairID order, as Sync locks
 * them, so a Sync holding one route cannot deadlock with this: a Sync that
 * locked a route first commits first, and what it stored is deleted here; a
 * Sync after this finds no route. Pairs unknown to the projection (an event not
 * yet consumed) are retired all the same.
 */
export async function revokePairs(tx: Queryable, pairIds: string[], now: Date): Promise<void> {
  await lock(tx, "pair", pairIds);
  const routes = await tx.route.findMany({
    where: { pairId: { in: pairIds } },
    select: { pairId: true, peerPairId: true },
  });
  const all = [...new Set([...pairIds, ...routes.flatMap((route) => [route.pairId, route.peerPairId])])];
  await tx.$queryRaw`SELECT pair_id FROM route WHERE pair_id = ANY(${all}::text[]) ORDER BY pair_id FOR UPDATE`;
  await retirePairs(tx, all, now);
}

/**
 * An erased account: every connection it has a side of stops routing and is
 * purged (both sides, as a break would), and no connection of it is added
 * later (a fallback lookup or a confirmation event that raced the deletion).
 */
export async function revokeAccount(tx: Queryable, accountId: string, now: Date): Promise<void> {
  // A lookup saving a connection of this account holds the account's lock until it commits.
  await lock(tx, "account", [accountId]);
  await tx.retiredAccount.createMany({ data: [{ accountId, retiredAt: now }], skipDuplicates: true });
  const routes = await tx.route.findMany({ where: { accountId }, select: { pairId: true, peerPairId: true } });
  const pairIds = routes.flatMap((route) => [route.pairId, route.peerPairId]);
  if (pairIds.length > 0) await revokePairs(tx, pairIds, now);
}
