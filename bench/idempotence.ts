/**
 * `npx tsx bench/idempotence.ts [packets]`: the relay's idempotence record
 * (SPEC §8: a stored (pairID, packetID) is never delivered again within seven
 * days) at 1M packets on one pairID, on a fresh schema of the local database.
 *
 * Sync writes one seen_packet row per stored packet; the sweeper folds them
 * into seen_range runs. Here the rows Sync would write are inserted in chunks
 * of 50,000 (one sweeper pass each), with one lost id every 100,000 (a gap),
 * then: rows left per pairID, table sizes, time per fold, and a real Sync
 * statement resending 500 old ids (none may be stored).
 */
import { randomUUID } from "node:crypto";
import { createTestDatabase } from "@seeme/testkit/database";
import { createTestBus } from "@seeme/testkit/nats";
import { createLogger } from "@seeme/runtime/logger";
import { loadConfig } from "@seeme/location/config";
import { startLocationService } from "@seeme/location/service";
import { compactSeen } from "@seeme/location/db/seen";
import { applySync } from "@seeme/location/db/sync";

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const CHUNK = 50_000;
const GAP_EVERY = 100_000;
const pairId = "B".repeat(40);
const peerPairId = "A".repeat(40);

const db = await createTestDatabase("bench_idempotence");
const bus = createTestBus("bench_idem");
const service = await startLocationService(
  loadConfig({
    LOCATION_DATABASE_URL: db.url,
    NATS_URL: bus.url,
    NATS_SUBJECT_PREFIX: bus.prefix,
    INTERNAL_AUTH_SECRET: "x".repeat(48),
    ADMIN_TOKEN: "a".repeat(48),
    CONNECTION_ADDR: "127.0.0.1:1",
    LOCATION_PORT: "0",
    METRICS_PORT: "0",
    SWEEP_INTERVAL: "1h",
    LOG_LEVEL: "silent",
  }),
  { log: createLogger("bench-idempotence", "silent") },
);
const prisma = service.context.db;
try {
  const sender = randomUUID();
  const recipient = randomUUID();
  await prisma.route.createMany({
    data: [
      {
        pairId,
        accountId: recipient,
        peerPairId,
        peerAccountId: sender,
        connectionId: randomUUID(),
        packetLifeMs: 7 * 86_400_000,
      },
      {
        pairId: peerPairId,
        accountId: sender,
        peerPairId: pairId,
        peerAccountId: recipient,
        connectionId: randomUUID(),
        packetLifeMs: 7 * 86_400_000,
      },
    ],
  });
  const folds: number[] = [];
  for (let first = 1; first <= TOTAL; first += CHUNK) {
    const last = Math.min(first + CHUNK - 1, TOTAL);
    await prisma.$executeRaw`
      INSERT INTO seen_packet (recipient_pair_id, packet_id, seen_at)
      SELECT ${pairId}, id, now() FROM generate_series(${first}::bigint, ${last}::bigint) id WHERE id % ${GAP_EVERY} <> 0`;
    const started = performance.now();
    await compactSeen(prisma, new Date());
    folds.push(performance.now() - started);
  }
  const ranges = await prisma.seenRange.count({ where: { recipientPairId: pairId } });
  const loose = await prisma.seenPacket.count({ where: { recipientPairId: pairId } });
  const [{ bytes: beforeVacuum }] = await prisma.$queryRaw<Array<{ bytes: bigint }>>`
    SELECT pg_total_relation_size('seen_range') + pg_total_relation_size('seen_packet') AS bytes`;
  // What autovacuum leaves in production: the folded rows' space is reclaimed.
  await prisma.$executeRawUnsafe("VACUUM FULL seen_packet");
  await prisma.$executeRawUnsafe("VACUUM FULL seen_range");
  const [{ bytes }] = await prisma.$queryRaw<Array<{ bytes: bigint }>>`
    SELECT pg_total_relation_size('seen_range') + pg_total_relation_size('seen_packet') AS bytes`;

  const resend = Array.from({ length: 500 }, (_, i) => ({
    pairId,
    packetId: 1 + i * 1999,
    blob: new Uint8Array([1]),
    releaseAt: null,
    slot: 0,
    urgent: false,
  }));
  const started = performance.now();
  const outcome = await applySync(service.context.sql, {
    accountId: sender,
    now: new Date(),
    outgoing: resend,
    sendTo: [pairId],
    acks: [],
    receiveUnder: [],
    receiptsSeen: [],
    serverAcks: [],
    inboxLimit: null,
  });
  const resendMs = performance.now() - started;
  const sorted = [...folds].sort((a, b) => a - b);
  console.log(
    JSON.stringify(
      {
        packets: TOTAL,
        gaps: Math.floor(TOTAL / GAP_EVERY),
        seenRangeRows: ranges,
        seenPacketRows: loose,
        idempotenceTablesBytesBeforeVacuum: Number(beforeVacuum),
        idempotenceTablesBytes: Number(bytes),
        foldPasses: folds.length,
        foldMsMedian: Math.round(sorted[Math.floor(sorted.length / 2)]),
        foldMsMax: Math.round(sorted[sorted.length - 1]),
        resendOf500OldIds: { stored: outcome.stored.length, ms: Math.round(resendMs) },
      },
      null,
      2,
    ),
  );
} finally {
  await service.stop();
  await bus.cleanup();
  await db.drop();
}
