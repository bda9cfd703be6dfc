import { randomUUID } from "node:crypto";
import { bindTo, recipientProof } from "@seeme/testkit/pairing";
import pg from "pg";
import { Code } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BreakReason } from "@seeme/contracts/connection";
import { connect as connectNats } from "nats";
import { events, streamName } from "@seeme/contracts/subjects";
import { connectEventBus, type EventBus } from "@seeme/runtime/nats";
import { TEST_DATABASE_URL } from "@seeme/testkit/database";
import { waitFor } from "@seeme/testkit/health";
import { eventWatcher, newPairId, registerAccount, silent, startSuite, testClock, type Account } from "./helpers.js";

const clock = testClock();
let suite: Awaited<ReturnType<typeof startSuite>>;
let watcher: Awaited<ReturnType<typeof eventWatcher>>;
let publisher: EventBus;

beforeAll(async () => {
  suite = await startSuite("events", { now: clock.now });
  watcher = await eventWatcher(suite.bus, "events-test");
  publisher = await connectEventBus({
    url: suite.bus.url,
    prefix: suite.bus.prefix,
    name: "identity-stand-in",
    log: silent,
  });
});

afterAll(async () => {
  await publisher.drain();
  await watcher.close();
  await suite.stop();
});

const client = (account: Account) => suite.client(account);

async function connect(a: Account, b: Account) {
  const sender = newPairId();
  const recipient = newPairId();
  const { serverSignature } = await client(a).initiateConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature: a.signInitiate(sender, recipient),
    ...bindTo(recipient),
  });
  await client(b).confirmConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    serverSignature,
    ...recipientProof(sender, recipient),
  });
  return { sender, recipient };
}

/** Lets the relay and consumers settle, so "nothing more arrived" means something. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 500));

test("account deletion breaks every connection of the account once, even when the event is delivered twice", async () => {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const c = registerAccount(suite.identity);
  const ab = await connect(a, b);
  const ca = await connect(c, a);
  const bc = await connect(b, c);
  const pendingSender = newPairId();
  const pendingRecipient = newPairId();
  await client(a).initiateConnection({
    senderPairId: pendingSender,
    recipientPairId: pendingRecipient,
    accountSignature: a.signInitiate(pendingSender, pendingRecipient),
    ...bindTo(pendingRecipient),
  });
  await watcher.confirmed.take(3);
  const seen = watcher.broken.items.length;

  const deleted = { eventId: randomUUID(), accountId: a.id, deleteTime: timestampFromDate(clock.now()) };
  await publisher.publish(events.accountDeleted, deleted, { msgId: deleted.eventId });
  const broken = (await watcher.broken.take(seen + 2)).slice(seen);
  expect(broken).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ by: a.id, reason: BreakReason.ACCOUNT_DELETED, pairIds: [ab.sender, ab.recipient] }),
      expect.objectContaining({ by: a.id, reason: BreakReason.ACCOUNT_DELETED, pairIds: [ca.sender, ca.recipient] }),
    ]),
  );
  expect((await client(b).listConnections({})).connections.map((x) => x.pairId)).toEqual([bc.sender]);
  expect((await suite.tables.rows("invites")).filter((r) => r.initiator_account_id === a.id)).toEqual([]);

  // A redelivery (new message id, so JetStream stores it again) finds nothing left to do.
  await publisher.publish(events.accountDeleted, deleted, { msgId: randomUUID() });
  await settle();
  expect(watcher.broken.items.length).toBe(seen + 2);
  expect(await suite.tables.count("connections")).toBe(1);
});

test("the sweeper expires each pending invite once (even with two sweeps racing) and drops used ones silently", async () => {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const used = await connect(a, b);
  const pending = Array.from({ length: 3 }, () => ({ s: newPairId(), r: newPairId() }));
  for (const { s, r } of pending)
    await client(a).initiateConnection({
      senderPairId: s,
      recipientPairId: r,
      accountSignature: a.signInitiate(s, r),
      ...bindTo(r),
    });
  const seen = watcher.expired.items.length;

  clock.advance(15 * 60_000 - 1);
  expect(await suite.service.sweeper.sweep()).toBe(0);
  clock.advance(1);
  const counts = await Promise.all([suite.service.sweeper.sweep(), suite.service.sweeper.sweep()]);
  expect(counts[0] + counts[1]).toBe(3);

  const expired = (await watcher.expired.take(seen + 3)).slice(seen);
  expect(expired.map((e) => e.sender).sort()).toEqual(pending.map((p) => p.s).sort());
  expect(expired.every((e) => e.initiator === a.id)).toBe(true);
  await settle();
  expect(watcher.expired.items.length).toBe(seen + 3);
  // The used invite is gone too; its connection stays.
  expect(await suite.tables.count("invites")).toBe(0);
  expect((await client(b).listConnections({})).connections.map((x) => x.pairId)).toEqual([used.recipient]);
});

test("an expired invite not yet swept gives way to a new initiate of the pair, and the initiator is told", async () => {
  const a = registerAccount(suite.identity);
  const s = newPairId();
  const r = newPairId();
  const first = await client(a).initiateConnection({
    senderPairId: s,
    recipientPairId: r,
    accountSignature: a.signInitiate(s, r),
    ...bindTo(r),
  });
  const seen = watcher.expired.items.length;
  clock.advance(15 * 60_000);
  const second = await client(a).initiateConnection({
    senderPairId: s,
    recipientPairId: r,
    accountSignature: a.signInitiate(s, r),
    ...bindTo(r),
  });
  expect(Number(second.expireTime!.seconds)).toBeGreaterThan(Number(first.expireTime!.seconds));
  const [expired] = (await watcher.expired.take(seen + 1)).slice(seen);
  expect(expired).toMatchObject({ initiator: a.id, sender: s, recipient: r });
  expect((await suite.tables.rows("invites")).filter((row) => row.sender_pair_id === s)).toHaveLength(1);
  expect(await waitFor(async () => (await suite.tables.count("outbox_events")) === 0)).toBe(true);
});

test("JetStream keeps connection events (account ids with pairIDs) for a day, identity events for a week", async () => {
  const nc = await connectNats({ servers: suite.bus.url });
  try {
    const jsm = await nc.jetstreamManager();
    const maxAgeMs = async (stream: "IDENTITY" | "CONNECTION") =>
      (await jsm.streams.info(streamName(suite.bus.prefix, stream))).config.max_age / 1e6;
    expect(await maxAgeMs("CONNECTION")).toBe(24 * 60 * 60 * 1000);
    expect(await maxAgeMs("IDENTITY")).toBe(7 * 24 * 60 * 60 * 1000);
  } finally {
    await nc.close();
  }
});

/** Publishes identity's account.deleted and waits until this service has applied it. */
async function deleteAccount(account: Account): Promise<void> {
  const event = { eventId: randomUUID(), accountId: account.id, deleteTime: timestampFromDate(clock.now()) };
  await publisher.publish(events.accountDeleted, event, { msgId: event.eventId });
  expect(
    await waitFor(async () =>
      (await suite.tables.rows("deleted_accounts")).some((row) => row.account_id === account.id),
    ),
  ).toBe(true);
}

function initiate(account: Account) {
  const senderPairId = newPairId();
  const recipientPairId = newPairId();
  const request = {
    senderPairId,
    recipientPairId,
    accountSignature: account.signInitiate(senderPairId, recipientPairId),
    ...bindTo(recipientPairId),
  };
  return { senderPairId, recipientPairId, send: () => client(account).initiateConnection(request) };
}

const connectionsOf = async (account: Account) =>
  (await suite.tables.rows("connections")).filter(
    (row) => row.initiator_account_id === account.id || row.recipient_account_id === account.id,
  );

test("a deleted account can neither initiate nor confirm, its invites are gone, and only its id is kept", async () => {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const c = registerAccount(suite.identity);
  const cInvite = initiate(c);
  const { serverSignature: cSignature } = await cInvite.send();
  const aInvite = initiate(a);
  const { serverSignature: aSignature } = await aInvite.send();
  await deleteAccount(a);
  expect((await suite.tables.rows("deleted_accounts")).find((row) => row.account_id === a.id)).toEqual({
    account_id: a.id,
  });

  // Its session may outlive the deletion for a moment (the gateway evicts it).
  await expect(
    client(a).confirmConnection({
      senderPairId: cInvite.senderPairId,
      recipientPairId: cInvite.recipientPairId,
      serverSignature: cSignature,
      ...recipientProof(cInvite.senderPairId, cInvite.recipientPairId),
    }),
  ).rejects.toMatchObject({
    code: Code.Unauthenticated,
    rawMessage: expect.stringMatching(/account no longer exists/),
  });
  await expect(initiate(a).send()).rejects.toMatchObject({
    code: Code.Unauthenticated,
    rawMessage: expect.stringMatching(/account no longer exists/),
  });
  await expect(
    client(b).confirmConnection({
      senderPairId: aInvite.senderPairId,
      recipientPairId: aInvite.recipientPairId,
      serverSignature: aSignature,
      ...recipientProof(aInvite.senderPairId, aInvite.recipientPairId),
    }),
  ).rejects.toMatchObject({ code: Code.NotFound });

  expect(await connectionsOf(a)).toEqual([]);
  expect((await suite.tables.rows("invites")).filter((row) => row.initiator_account_id === a.id)).toEqual([]);
  expect((await suite.tables.rows("invites")).find((row) => row.sender_pair_id === cInvite.senderPairId)).toMatchObject(
    { used_at: null },
  );
});

/** Backends waiting, directly or through another waiter, for the locks of backend `pid`. */
async function backendsWaitingBehind(observer: pg.Client, pid: number): Promise<number> {
  const { rows } = await observer.query<{ n: number }>(
    `
    WITH RECURSIVE waiting(pid) AS (
      SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
      UNION SELECT a.pid FROM pg_stat_activity a JOIN waiting w ON w.pid = ANY(pg_blocking_pids(a.pid)))
    SELECT count(*)::int AS n FROM waiting`,
    [pid],
  );
  return rows[0].n;
}

test("a confirm racing the deletion of the invite's initiator leaves no connection owned by the deleted account", async () => {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const invite = initiate(a);
  const { serverSignature } = await invite.send();
  const options = `-c search_path=${suite.db.schema}`;
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL, options });
  const observer = new pg.Client({ connectionString: TEST_DATABASE_URL, options });
  await holder.connect();
  await observer.connect();
  const waitingBehind = (pid: number) => backendsWaitingBehind(observer, pid);
  try {
    await holder.query("BEGIN");
    // Holding the invite row stops B's confirm at its claim, after its checks.
    await holder.query("SELECT 1 FROM invites WHERE sender_pair_id = $1 FOR UPDATE", [invite.senderPairId]);
    const pid = (await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    const confirming = client(b).confirmConnection({
      senderPairId: invite.senderPairId,
      recipientPairId: invite.recipientPairId,
      serverSignature,
      ...recipientProof(invite.senderPairId, invite.recipientPairId),
    });
    confirming.catch(() => undefined);
    expect(await waitFor(async () => (await waitingBehind(pid)) === 1)).toBe(true);
    const event = { eventId: randomUUID(), accountId: a.id, deleteTime: timestampFromDate(clock.now()) };
    await publisher.publish(events.accountDeleted, event, { msgId: event.eventId });
    // The deletion runs while the confirm is in flight, and waits too.
    expect(await waitFor(async () => (await waitingBehind(pid)) === 2)).toBe(true);
    await holder.query("COMMIT");
    await confirming.catch(() => undefined);
  } finally {
    await holder.end();
    await observer.end();
  }
  expect(
    await waitFor(async () => (await suite.tables.rows("deleted_accounts")).some((row) => row.account_id === a.id)),
  ).toBe(true);
  expect(await waitFor(async () => (await connectionsOf(a)).length === 0, 3000)).toBe(true);
});

/**
 * Runs `race` while a test transaction holds `account`'s lock (accounts.ts), then releases it.
 * `waiters(n)` is true once n backends queue behind that lock (PostgreSQL grants it in order).
 */
async function whileAccountLocked(
  account: Account,
  race: (waiters: (n: number) => Promise<boolean>) => Promise<void>,
): Promise<void> {
  const options = `-c search_path=${suite.db.schema}`;
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL, options });
  const observer = new pg.Client({ connectionString: TEST_DATABASE_URL, options });
  await holder.connect();
  await observer.connect();
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`connection-account:${account.id}`]);
    const pid = (await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    await race((n) => waitFor(async () => (await backendsWaitingBehind(observer, pid)) === n));
    await holder.query("COMMIT");
  } finally {
    await holder.end();
    await observer.end();
  }
}

async function publishDeletion(account: Account): Promise<void> {
  const event = { eventId: randomUUID(), accountId: account.id, deleteTime: timestampFromDate(clock.now()) };
  await publisher.publish(events.accountDeleted, event, { msgId: event.eventId });
}

test("a confirm that read the invite just before its initiator's deletion committed is refused NotFound, as if the invite were gone", async () => {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const invite = initiate(a);
  const { serverSignature } = await invite.send();
  let confirming: Promise<unknown> | undefined;
  // The deletion queues for A's lock first, then the confirm, which has already read the invite.
  // Released, the deletion commits (invite dropped, A recorded as deleted) before the confirm
  // gets the lock and looks again.
  await whileAccountLocked(a, async (waiters) => {
    await publishDeletion(a);
    expect(await waiters(1)).toBe(true);
    confirming = client(b).confirmConnection({
      senderPairId: invite.senderPairId,
      recipientPairId: invite.recipientPairId,
      serverSignature,
      ...recipientProof(invite.senderPairId, invite.recipientPairId),
    });
    confirming.catch(() => undefined);
    expect(await waiters(2)).toBe(true);
  });
  await expect(confirming).rejects.toMatchObject({
    code: Code.NotFound,
    rawMessage: "no invite for this pair; it may have expired",
  });
  expect(await connectionsOf(a)).toEqual([]);
  expect(await connectionsOf(b)).toEqual([]);
});

test("an initiate racing its account's deletion waits for it and is refused; it never answers OK for an invite the deletion drops", async () => {
  const a = registerAccount(suite.identity);
  const pending = initiate(a);
  let initiating: Promise<unknown> | undefined;
  await whileAccountLocked(a, async (waiters) => {
    await publishDeletion(a);
    expect(await waiters(1)).toBe(true);
    initiating = pending.send();
    initiating.catch(() => undefined);
    // The initiate queues behind the deletion for the account's lock.
    expect(await waiters(2)).toBe(true);
  });
  await expect(initiating).rejects.toMatchObject({
    code: Code.Unauthenticated,
    rawMessage: "account no longer exists",
  });
  expect((await suite.tables.rows("invites")).filter((row) => row.initiator_account_id === a.id)).toEqual([]);
});

test("an initiate that loses the race to another account's initiate of the same pair is refused AlreadyExists with the pending-invite message", async () => {
  const a = registerAccount(suite.identity);
  const e = registerAccount(suite.identity);
  const pending = initiate(a);
  const options = `-c search_path=${suite.db.schema}`;
  const holder = new pg.Client({ connectionString: TEST_DATABASE_URL, options });
  const observer = new pg.Client({ connectionString: TEST_DATABASE_URL, options });
  await holder.connect();
  await observer.connect();
  let initiating: Promise<unknown> | undefined;
  try {
    // E's initiate of the pair, inserted but not committed: A's initiate finds no invite for the
    // pair (it is not visible yet), so it passes every check and waits on the pair's unique index.
    await holder.query("BEGIN");
    await holder.query(
      `INSERT INTO invites (id, initiator_account_id, sender_pair_id, recipient_pair_id, packet_life_seconds, created_at, expires_at)
       VALUES ($1, $2, $3, $4, 3600, now(), now() + interval '15 minutes')`,
      [randomUUID(), e.id, pending.senderPairId, pending.recipientPairId],
    );
    const pid = (await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
    initiating = pending.send();
    initiating.catch(() => undefined);
    expect(await waitFor(async () => (await backendsWaitingBehind(observer, pid)) === 1)).toBe(true);
    await holder.query("COMMIT");
  } finally {
    await holder.end();
    await observer.end();
  }
  await expect(initiating).rejects.toMatchObject({
    code: Code.AlreadyExists,
    rawMessage: "a pending invite for this pair already exists",
  });
  expect(
    (await suite.tables.rows("invites")).filter((row) => row.sender_pair_id === pending.senderPairId),
  ).toMatchObject([{ initiator_account_id: e.id }]);
});
