import type { Duration } from "@bufbuild/protobuf/wkt";
import type { Route as ConnectionRoute } from "@seeme/contracts/connection";
import type { Queryable } from "./client.js";
import { packetLifeMs } from "./retention.js";

function durationMs(duration: Duration | undefined): number {
  return duration ? Number(duration.seconds) * 1000 + Math.floor(duration.nanos / 1_000_000) : 0;
}

/**
 * Serialises every projection change of one connection: a rebuild or fallback
 * lookup that read a route before its break must not re-insert it after.
 */
export async function lockConnection(tx: Queryable, connectionId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`location-route:${connectionId}`}))`;
}

/**
 * Adds connections to the projection, both sides, unless already known or
 * broken (retired pairIDs never come back). Must run inside a transaction.
 */
export async function saveRoutes(tx: Queryable, routes: ConnectionRoute[]): Promise<void> {
  for (const route of routes) {
    await lockConnection(tx, route.connectionId);
    const pairIds = [route.initiatorPairId, route.recipientPairId];
    const retired = await tx.retiredPair.count({ where: { pairId: { in: pairIds } } });
    if (retired > 0) continue;
    const lifeMs = packetLifeMs(durationMs(route.packetLife));
    await tx.route.createMany({
      skipDuplicates: true,
      data: [
        {
          pairId: route.initiatorPairId, accountId: route.initiatorAccountId,
          peerPairId: route.recipientPairId, peerAccountId: route.recipientAccountId,
          connectionId: route.connectionId, packetLifeMs: lifeMs,
        },
        {
          pairId: route.recipientPairId, accountId: route.recipientAccountId,
          peerPairId: route.initiatorPairId, peerAccountId: route.initiatorAccountId,
          connectionId: route.connectionId, packetLifeMs: lifeMs,
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
  await tx.retiredPair.createMany({ data: pairIds.map((pairId) => ({ pairId, retiredAt: now })), skipDuplicates: true });
  await tx.packet.deleteMany({ where: { recipientPairId: { in: pairIds } } });
  await tx.deliveryReceipt.deleteMany({
    where: { OR: [{ recipientPairId: { in: pairIds } }, { senderPairId: { in: pairIds } }] },
  });
}
