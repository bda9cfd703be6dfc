import { Code } from "@connectrpc/connect";
import { ChallengePurpose } from "@seeme/contracts/identity";
import { loadConfig } from "../src/config.js";
import { generateAccountKey, registerAccount, requestChallenge, signPayload } from "@seeme/testkit/accounts";
import { startHarness, type Harness } from "./harness.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("identity-limits", {
    IDENTITY_RATE_LIMIT_ADDRESS_BURST: "4",
    IDENTITY_RATE_LIMIT_ADDRESS_PER_MINUTE: "2",
    IDENTITY_RATE_LIMIT_ACCOUNT_BURST: "2",
    IDENTITY_RATE_LIMIT_ACCOUNT_PER_MINUTE: "1",
  });
});

afterAll(() => h.stop());

async function exhaustedWithoutChange(fn: () => Promise<unknown>, what: string): Promise<void> {
  const before = await h.counts();
  await expect(fn()).rejects.toMatchObject({
    code: Code.ResourceExhausted,
    rawMessage: `rate limit exceeded for ${what}; retry later`,
  });
  expect(await h.counts()).toEqual(before);
}

test("challenges are limited per source address, and the budget refills over time", async () => {
  const crowded = h.publicClient("198.51.100.7");
  const challenge = () =>
    crowded.createChallenge({ purpose: ChallengePurpose.REGISTER, publicKey: generateAccountKey().publicKey });
  for (let i = 0; i < 4; i++) await challenge();
  await exhaustedWithoutChange(challenge, "this network address");
  // Another address is not affected.
  await h
    .publicClient("198.51.100.8")
    .createChallenge({ purpose: ChallengePurpose.REGISTER, publicKey: generateAccountKey().publicKey });
  h.advance(30_000);
  await challenge();
  await exhaustedWithoutChange(challenge, "this network address");
});

test("register is limited per source address", async () => {
  const client = h.publicClient("198.51.100.20");
  let helpers = 0;
  const attempt = async () => {
    const key = generateAccountKey();
    // Challenges come from other addresses so only Register's own budget is tested.
    const helper = h.publicClient(`198.51.100.${100 + helpers++}`);
    const { nonce, payload } = await requestChallenge(helper, {
      purpose: ChallengePurpose.REGISTER,
      publicKey: key.publicKey,
    });
    return () => client.register({ publicKey: key.publicKey, nonce, signature: signPayload(key.privateKey, payload) });
  };
  for (let i = 0; i < 4; i++) await (await attempt())();
  await exhaustedWithoutChange(await attempt(), "this network address");
});

test("sign-in challenges and sign-ins are limited per account, whatever the address", async () => {
  const account = await registerAccount(h.publicClient("198.51.100.30"));
  const from = (n: number) => h.publicClient(`198.51.100.${40 + n}`);
  const challenge = (n: number) =>
    from(n).createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId });
  const issued = [await challenge(1), await challenge(2)];
  await exhaustedWithoutChange(() => challenge(3), "this account");

  const signInFrom = (n: number, i: number) =>
    from(n).signIn({
      accountId: account.accountId,
      nonce: issued[i].nonce,
      signature: signPayload(generateAccountKey().privateKey, issued[i].payload),
    });
  // Wrong signatures still use up the account's budget: guessing is bounded.
  await expect(signInFrom(4, 0)).rejects.toMatchObject({ code: Code.Unauthenticated });
  await expect(signInFrom(5, 0)).rejects.toMatchObject({ code: Code.Unauthenticated });
  await exhaustedWithoutChange(
    () =>
      from(6).signIn({
        accountId: account.accountId,
        nonce: issued[1].nonce,
        signature: signPayload(account.privateKey, issued[1].payload),
      }),
    "this account",
  );
});

test("limits are configured by environment, with documented defaults and bounds", () => {
  const base = { IDENTITY_DATABASE_URL: "postgresql://localhost/db", INTERNAL_AUTH_SECRET: "s".repeat(32) };
  const defaults = loadConfig(base);
  expect(defaults.addressLimit).toEqual({ capacity: 20, perSecond: 20 / 60 });
  expect(defaults.accountLimit).toEqual({ capacity: 5, perSecond: 5 / 60 });
  expect(defaults.sessionTtlMs).toBe(24 * 3_600_000);
  expect(defaults.challengeTtlMs).toBe(5 * 60_000);
  expect(defaults.port).toBe(50051);
  expect(loadConfig({ ...base, SESSION_TTL: "2h" }).sessionTtlMs).toBe(7_200_000);
  expect(() => loadConfig({ ...base, CHALLENGE_TTL: "6m" })).toThrow("CHALLENGE_TTL must be between 10s and 5m");
  expect(() => loadConfig({ ...base, IDENTITY_RATE_LIMIT_ACCOUNT_BURST: "0" })).toThrow(
    "IDENTITY_RATE_LIMIT_ACCOUNT_BURST",
  );
  expect(() => loadConfig({ INTERNAL_AUTH_SECRET: "s".repeat(32) })).toThrow("IDENTITY_DATABASE_URL is required");
});
