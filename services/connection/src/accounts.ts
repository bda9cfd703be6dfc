import type { Tx } from "./db/client.js";

export const ACCOUNT_GONE = "account no longer exists";

/**
 * Serialises an account's deletion with every change that gives the account a
 * connection or an invite: each takes the lock of every account it involves in
 * its transaction (in id order, so two changes never wait on each other
 * crosswise) and then checks deleted_accounts. Either the deletion commits first
 * and the change sees the account deleted, or the change commits first and the
 * deletion, reading only after it got the lock, finds and removes what it made.
 */
export async function lockAccounts(tx: Tx, accountIds: string[]): Promise<void> {
  for (const accountId of [...new Set(accountIds)].sort()) {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`connection-account:${accountId}`}))`;
  }
}

/** Which of these accounts were deleted; call after lockAccounts. */
export async function deletedAmong(tx: Tx, accountIds: string[]): Promise<Set<string>> {
  const rows = await tx.deletedAccount.findMany({ where: { accountId: { in: accountIds } } });
  return new Set(rows.map((row) => row.accountId));
}
