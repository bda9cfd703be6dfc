import { Code } from "@connectrpc/connect";
import { registerAndSignIn } from "@seeme/testkit/accounts";
import { startHarness, type Harness } from "./harness.js";

/**
 * DeleteAccount applies the deletion at the relay (location's RevokeAccount)
 * before it answers, and answers OK only then (SPEC §8). The relay here is a
 * fake that records calls and can be made to fail.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness("identity-delete-relay");
});
afterAll(() => h.stop());

test("DeleteAccount revokes the account at the relay before it answers", async () => {
  const account = await registerAndSignIn(h.publicClient());
  await h.callerClient(account.accountId).deleteAccount({});
  expect(h.location.revokedAccounts).toContain(account.accountId);
});

test("when the relay cannot apply it, DeleteAccount answers Unavailable and nothing changes; a retry deletes", async () => {
  const account = await registerAndSignIn(h.publicClient());
  const before = await h.counts();
  h.location.state.fail = true;
  try {
    await expect(h.callerClient(account.accountId).deleteAccount({})).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "the relay could not apply the deletion right now; nothing changed, retry",
    });
  } finally {
    h.location.state.fail = false;
  }
  expect(await h.counts()).toEqual(before);
  expect((await h.callerClient(account.accountId).getAccount({})).account?.accountId).toBe(account.accountId);

  await h.callerClient(account.accountId).deleteAccount({});
  expect(h.location.revokedAccounts.at(-1)).toBe(account.accountId);
  await expect(h.callerClient(account.accountId).getAccount({})).rejects.toMatchObject({ code: Code.Unauthenticated });
});

test("a relay that answers only after 4 s is given up on at its 3 s deadline: Unavailable, nothing changed", async () => {
  // Past DeleteAccount's own 3 s deadline for RevokeAccount, inside the client's 5 s default and the
  // transaction's 5 s limit: only that deadline tells this apart from a slow success.
  const account = await registerAndSignIn(h.publicClient());
  const before = await h.counts();
  h.location.state.hangMs = 4000;
  try {
    await expect(h.callerClient(account.accountId).deleteAccount({})).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "the relay could not apply the deletion right now; nothing changed, retry",
    });
  } finally {
    h.location.state.hangMs = 0;
  }
  expect(await h.counts()).toEqual(before);
});
