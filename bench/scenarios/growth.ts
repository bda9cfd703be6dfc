import pg from "pg";
import { parseDatabaseUrl } from "@seeme/runtime/db";
import { blobPool } from "../lib/stats.js";

/**
 * Fills the relay's packet table with packets queued for devices that are
 * offline (pairIDs no running device uses), written with SQL straight into the
 * location schema rather than through the API: a million Syncs would take the
 * whole time budget. Same row shape as the relay writes: 128-byte random blob,
 * stored now, expiring `expiresInMs` from now.
 */
export async function seedQueuedPackets(
  locationDatabaseUrl: string,
  from: number,
  to: number,
  expiresInMs: number,
  onChunk?: (done: number) => void,
): Promise<void> {
  const target = parseDatabaseUrl(locationDatabaseUrl);
  const client = new pg.Client({
    connectionString: target.connectionString,
    options: `-c search_path=${target.schema}`,
  });
  await client.connect();
  try {
    const chunk = 100_000;
    for (let start = from; start < to; start += chunk) {
      const end = Math.min(to, start + chunk) - 1;
      // 10,000 offline recipients, up to 100 packets each at a million.
      await client.query(
        `INSERT INTO packet (recipient_pair_id, packet_id, sender_pair_id, blob, stored_at, expires_at)
         SELECT 'Q' || lpad((i % 10000)::text, 39, '0'), i, 'S' || lpad((i % 10000)::text, 39, '0'),
                ($1::bytea[])[1 + i % $2], now(), now() + $3 * interval '1 millisecond'
           FROM generate_series($4::bigint, $5::bigint) AS i`,
        [blobPool(), blobPool().length, expiresInMs, start, end],
      );
      onChunk?.(end + 1);
    }
    await client.query("ANALYZE packet");
  } finally {
    await client.end();
  }
}

export async function countPackets(locationDatabaseUrl: string): Promise<number> {
  const target = parseDatabaseUrl(locationDatabaseUrl);
  const client = new pg.Client({
    connectionString: target.connectionString,
    options: `-c search_path=${target.schema}`,
  });
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>("SELECT count(*) AS n FROM packet")).rows[0].n);
  } finally {
    await client.end();
  }
}
