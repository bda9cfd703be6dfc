import { Code } from "@connectrpc/connect";
import { SyncTarget, type SyncResponse } from "@seeme/contracts/location";
import { GroupCommit } from "../src/db/group-commit.js";
import { blob, countPackets, newConnection, startHarness, type Harness, type Pair } from "./helpers.js";

/**
 * Group commit (db/group-commit.ts): Syncs arriving together share one
 * transaction, yet each caller gets its own answer and its own error. The
 * window is widened to 50 ms here so that concurrent calls surely meet.
 */
let h: Harness;
const POISON = 666;

beforeAll(async () => {
  h = await startHarness("location-group-commit", { SYNC_GROUP_COMMIT_MS: "50", SYNC_GROUP_COMMIT_MAX: "32" });
  // A packet id the database refuses, to make one Sync of a batch fail inside its statement.
  await h.pool.query(`
    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.packet_id = ${POISON} THEN RAISE EXCEPTION 'poisoned packet'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_poison BEFORE INSERT ON packet FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
});
afterAll(() => h.stop());

async function connectedPairs(n: number): Promise<Pair[]> {
  const pairs = Array.from({ length: n }, () => newConnection());
  for (const pair of pairs) await h.connect(pair);
  return pairs;
}

const received = (response: SyncResponse, pairId: string) =>
  response.syncMeta.find((meta) => meta.target === SyncTarget.SENDER && meta.pairId === pairId)?.receivedPackets;

test("Syncs that arrive together share one commit, and each caller gets its own answer", async () => {
  const pairs = await connectedPairs(6);
  const answers = await Promise.all(
    pairs.map((pair, i) => h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: i + 1, blob: blob(`p${i}`) }] })),
  );
  answers.forEach((answer, i) => expect(received(answer, pairs[i].bPair)).toEqual([i + 1]));
  // Rows written by one transaction carry its id (xmin): six Syncs, fewer commits.
  const { rows } = await h.pool.query<{ commits: string }>(
    "SELECT count(DISTINCT xmin::text) AS commits FROM packet WHERE recipient_pair_id = ANY($1)",
    [pairs.map((pair) => pair.bPair)],
  );
  expect(Number(rows[0].commits)).toBeLessThan(pairs.length);
  // Durable and visible to the recipients.
  for (const [i, pair] of pairs.entries())
    expect((await h.as(pair.b).sync({})).data.filter((p) => p.pairId === pair.bPair).map((p) => p.packetId)).toEqual([
      i + 1,
    ]);
});

test("one Sync that fails in the database fails alone: the others of its batch are stored and answered", async () => {
  const pairs = await connectedPairs(4);
  const calls = pairs.map((pair, i) =>
    h
      .as(pair.a)
      .sync({ data: [{ pairId: pair.bPair, packetId: i === 1 ? POISON : 10 + i, blob: blob("x") }] })
      .then(
        (response) => ({ response }),
        (error: unknown) => ({ error }),
      ),
  );
  const outcomes = await Promise.all(calls);
  // The poisoned Sync fails (an internal error: the database refused it); nothing of it is stored.
  expect(outcomes[1]).toEqual({ error: expect.objectContaining({ code: Code.Internal }) });
  for (const i of [0, 2, 3]) {
    expect(received((outcomes[i] as { response: SyncResponse }).response, pairs[i].bPair)).toEqual([10 + i]);
    expect(await countPackets(h.pool, pairs[i].bPair)).toBe(1);
  }
  expect(await countPackets(h.pool, pairs[1].bPair)).toBe(0);
});

test("the same packet sent twice in one batch is stored once, and both answers report it received", async () => {
  const [pair] = await connectedPairs(1);
  const send = () => h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 7, blob: blob("once") }] });
  const [first, second] = await Promise.all([send(), send()]);
  expect(received(first, pair.bPair)).toEqual([7]);
  expect(received(second, pair.bPair)).toEqual([7]);
  expect(await countPackets(h.pool, pair.bPair)).toBe(1);
});

test("a batch runs its Syncs in caller order, so two batches never take route locks in opposite orders", async () => {
  const pairs = await connectedPairs(8);
  await Promise.all(
    pairs.map((pair) => h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("x") }] })),
  );
  // One transaction per batch (xmin); within it the statements ran in seq order.
  const { rows } = await h.pool.query<{ batch: string; sender: string }>(
    `SELECT p.xmin::text AS batch, r.peer_account_id AS sender FROM packet p JOIN route r ON r.pair_id = p.recipient_pair_id
      WHERE p.recipient_pair_id = ANY($1) ORDER BY p.seq`,
    [pairs.map((pair) => pair.bPair)],
  );
  const batches = new Map<string, string[]>();
  for (const row of rows) batches.set(row.batch, [...(batches.get(row.batch) ?? []), row.sender]);
  expect(Math.max(...[...batches.values()].map((senders) => senders.length))).toBeGreaterThan(1);
  for (const senders of batches.values()) expect(senders).toEqual([...senders].sort());
});

test("a batch holds at most SYNC_GROUP_COMMIT_MAX Syncs, and a Sync after a full batch is not left waiting", async () => {
  const configured = h.location.context.syncs;
  try {
    for (const windowMs of [50, 0]) {
      h.location.context.syncs = new GroupCommit(h.location.context.sql, { windowMs, maxBatch: 2 });
      const pairs = await connectedPairs(6);
      await Promise.all(
        pairs.map((pair) => h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("x") }] })),
      );
      const { rows } = await h.pool.query<{ size: number }>(
        "SELECT count(*)::int AS size FROM packet WHERE recipient_pair_id = ANY($1) GROUP BY xmin::text",
        [pairs.map((pair) => pair.bPair)],
      );
      expect([windowMs, Math.max(...rows.map((row) => row.size))]).toEqual([windowMs, expect.any(Number)]);
      expect(Math.max(...rows.map((row) => row.size))).toBeLessThanOrEqual(2);
      // One Sync on its own, after the batches above: answered within the window, not stuck.
      const [lone] = await connectedPairs(1);
      const answered = h.as(lone.a).sync({ data: [{ pairId: lone.bPair, packetId: 1, blob: blob("alone") }] });
      const late = new Promise((resolve) => setTimeout(() => resolve("not answered in 5 s"), 5000));
      expect(await Promise.race([answered.then(() => "answered"), late])).toBe("answered");
    }
  } finally {
    h.location.context.syncs = configured;
  }
});

test("a window that ends after its batch was flushed for its size finds nothing, and a later lone Sync still runs", async () => {
  const commits = new GroupCommit(h.location.context.sql, { windowMs: 30, maxBatch: 2 });
  const job = (n: number) => commits.run(`caller-${n}`, false, async () => n);
  // Two in one turn: the second fills the batch, which runs at once; the first's window timer is still set.
  expect(await Promise.all([job(1), job(2)])).toEqual([1, 2]);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const late = new Promise((resolve) => setTimeout(() => resolve("not run in 2 s"), 2000));
  expect(await Promise.race([job(3), late])).toBe(3);
});

test("a job that arrives within the window joins the first one's batch: both run in one transaction", async () => {
  const { sql } = h.location.context;
  const commits = new GroupCommit(sql, { windowMs: 200, maxBatch: 32 });
  // What each job runs on: the batch's transaction, or the client itself when it runs alone.
  const ranOn: unknown[] = [];
  const job = (n: number) =>
    commits.run(`caller-${n}`, false, async (db) => {
      ranOn.push(db);
      return n;
    });
  const first = job(1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await Promise.all([first, job(2)])).toEqual([1, 2]);
  expect(ranOn).toHaveLength(2);
  expect(ranOn[0]).toBe(ranOn[1]);
  expect(ranOn[0]).not.toBe(sql);
});

test("a job that arrives while a window is open does not open a second one: the next job waits a whole window", async () => {
  const { sql } = h.location.context;
  const commits = new GroupCommit(sql, { windowMs: 300, maxBatch: 32 });
  const ranOn: Array<[number, unknown]> = [];
  const job = (n: number) =>
    commits.run(`caller-${n}`, false, async (db) => {
      ranOn.push([n, db]);
      return n;
    });
  // Jobs 1 and 2 share the window job 1 opened (job 2 must not start a timer of its own).
  const first = job(1);
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(await Promise.all([first, job(2)])).toEqual([1, 2]);
  // Job 3 opens the next window; job 4, 150 ms in, joins it. A stray timer left by job 2
  // (due 300 ms after it, so 100 ms into job 3's window) would flush job 3 on its own.
  const third = job(3);
  await new Promise((resolve) => setTimeout(resolve, 150));
  expect(await Promise.all([third, job(4)])).toEqual([3, 4]);
  const db = new Map(ranOn);
  expect(db.get(1)).toBe(db.get(2));
  expect(db.get(3)).toBe(db.get(4));
  expect(db.get(3)).not.toBe(db.get(1));
  expect(db.get(3)).not.toBe(sql);
});
