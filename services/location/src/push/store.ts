import type { LocationDb, Queryable } from "../db/client.js";

/** What sending a wake-up needs; the endpoint and keys are secrets and never logged. */
export interface PushTarget {
  id: string;
  accountId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** Browsers (or profiles) one account may have registered at once. */
export const MAX_SUBSCRIPTIONS_PER_ACCOUNT = 5;

export interface NewSubscription {
  accountId: string;
  sessionId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  expiresAt: Date;
}

/**
 * Stores a subscription; an endpoint registered again (a new session, fresh
 * keys, even another account on a shared browser) is taken over by the caller,
 * since only the browser holding it could have handed it over. Its coalescing
 * window carries on: registering again (each app start, each wake-up) must not
 * let a second normal wake-up through within the minute.
 */
export async function saveSubscription(db: LocationDb, sub: NewSubscription, now: Date): Promise<void> {
  await db.$transaction([
    db.$executeRaw`
    INSERT INTO push_subscription (id, account_id, session_id, endpoint, p256dh, auth, created_at, expires_at)
    VALUES (gen_random_uuid(), ${sub.accountId}, ${sub.sessionId}, ${sub.endpoint}, ${sub.p256dh}, ${sub.auth}, ${now}, ${sub.expiresAt})
    ON CONFLICT (endpoint) DO UPDATE SET account_id = EXCLUDED.account_id, session_id = EXCLUDED.session_id,
      p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
    // Browsers drop and renew subscriptions; the stale ones an account leaves behind go, oldest first.
    db.$executeRaw`
    DELETE FROM push_subscription WHERE account_id = ${sub.accountId} AND id NOT IN (
      SELECT id FROM push_subscription WHERE account_id = ${sub.accountId} ORDER BY created_at DESC, id LIMIT ${MAX_SUBSCRIPTIONS_PER_ACCOUNT})`,
  ]);
}

export async function removeSubscription(db: Queryable, accountId: string, endpoint: string): Promise<void> {
  await db.pushSubscription.deleteMany({ where: { accountId, endpoint } });
}

/** Removes what the push service reported gone (404/410). */
export async function removeSubscriptionById(db: Queryable, id: string): Promise<void> {
  await db.pushSubscription.deleteMany({ where: { id } });
}

/** Subscriptions of an account end (deleted, or re-keyed: its sessions are over); `before` spares later registrations. */
export async function removeAccountSubscriptions(db: Queryable, accountId: string, before?: Date): Promise<number> {
  return (
    await db.pushSubscription.deleteMany({ where: { accountId, ...(before ? { createdAt: { lt: before } } : {}) } })
  ).count;
}

export async function removeExpiredSubscriptions(db: Queryable, now: Date): Promise<number> {
  return (await db.pushSubscription.deleteMany({ where: { expiresAt: { lte: now } } })).count;
}

export async function hasSubscription(db: Queryable, accountId: string, now: Date): Promise<boolean> {
  return (
    (await db.pushSubscription.findFirst({ where: { accountId, expiresAt: { gt: now } }, select: { id: true } })) !==
    null
  );
}

interface TargetRow {
  id: string;
  account_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

const target = (row: TargetRow): PushTarget => ({
  id: row.id,
  accountId: row.account_id,
  endpoint: row.endpoint,
  p256dh: row.p256dh,
  auth: row.auth,
});

/**
 * An urgent packet: every live subscription of the account is claimed for a
 * wake-up now, which also covers any normal one waiting for its window.
 */
export async function claimUrgent(db: Queryable, accountId: string, now: Date): Promise<PushTarget[]> {
  const rows = await db.$queryRaw<TargetRow[]>`
    UPDATE push_subscription SET last_push_at = ${now}, pending = false
     WHERE account_id = ${accountId} AND expires_at > ${now}
    RETURNING id::text, account_id, endpoint, p256dh, auth`;
  return rows.map(target);
}

/**
 * A normal packet: subscriptions whose window has passed are claimed for a
 * wake-up now; the others are marked pending and go when their window ends.
 * The row locks taken by the UPDATE make concurrent hints (any replica) agree:
 * the second one sees the first's last_push_at and only marks pending.
 */
export async function claimNormal(
  db: Queryable,
  accountId: string,
  now: Date,
  windowMs: number,
): Promise<PushTarget[]> {
  const since = new Date(now.getTime() - windowMs);
  const rows = await db.$queryRaw<Array<TargetRow & { due: boolean }>>`
    UPDATE push_subscription
       SET pending = NOT (last_push_at IS NULL OR last_push_at <= ${since}),
           last_push_at = CASE WHEN last_push_at IS NULL OR last_push_at <= ${since} THEN ${now} ELSE last_push_at END
     WHERE account_id = ${accountId} AND expires_at > ${now}
    RETURNING id::text, account_id, endpoint, p256dh, auth, NOT pending AS due`;
  return rows.filter((row) => row.due).map(target);
}

/** Pending wake-ups whose window has ended, claimed (by exactly one replica) for sending now. */
export async function claimDue(db: Queryable, now: Date, windowMs: number, limit = 500): Promise<PushTarget[]> {
  const since = new Date(now.getTime() - windowMs);
  const rows = await db.$queryRaw<TargetRow[]>`
    UPDATE push_subscription SET last_push_at = ${now}, pending = false
     WHERE id IN (SELECT id FROM push_subscription
                   WHERE pending AND last_push_at <= ${since} AND expires_at > ${now}
                   ORDER BY last_push_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING id::text, account_id, endpoint, p256dh, auth`;
  return rows.map(target);
}
