import { Code } from "@connectrpc/connect";
import { ChallengePurpose } from "@seeme/contracts/identity";
import { loadConfig } from "../src/config.js";
import { generateAccountKey, registerAccount, requestChallenge, signIn, signPayload } from "@seeme/testkit/accounts";
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

test("sign-in challenges and failed sign-ins are limited per source and account", async () => {
  const account = await registerAccount(h.publicClient("198.51.100.30"));
  const stranger = h.publicClient("198.51.100.41");
  const challenge = () => stranger.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId });
  const issued = [await challenge(), await challenge()];
  await exhaustedWithoutChange(challenge, "this account from this network address");

  const guess = (i: number) =>
    stranger.signIn({
      accountId: account.accountId,
      nonce: issued[i].nonce,
      signature: signPayload(generateAccountKey().privateKey, issued[i].payload),
    });
  // Wrong signatures use up this source's budget for the account: guessing is bounded.
  await expect(guess(0)).rejects.toMatchObject({ code: Code.Unauthenticated });
  await expect(guess(0)).rejects.toMatchObject({ code: Code.Unauthenticated });
  await exhaustedWithoutChange(() => guess(1), "this account from this network address");
});

test("a stranger cannot lock an account out of sign-in: the owner's own proofs still work", async () => {
  const owner = await registerAccount(h.publicClient("198.51.100.50"));
  const strangerAt = h.publicClient("198.51.100.51");
  // The stranger spends everything they can on the owner's account id.
  const outcomes: number[] = [];
  for (let i = 0; i < 6; i++) {
    outcomes.push(
      await strangerAt.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: owner.accountId }).then(
        () => 0,
        (e: { code: number }) => e.code,
      ),
    );
  }
  expect(outcomes.slice(-1)).toEqual([Code.ResourceExhausted]);
  // The owner, from their own address, signs in as usual...
  const ownerClient = h.publicClient("198.51.100.52");
  expect((await signIn(ownerClient, owner)).length).toBeGreaterThan(16);
  // ...and a valid proof is never refused by the per-account budget, even once failures from its address used it up.
  const fromSameAddress = h.publicClient("198.51.100.52");
  const { nonce, payload } = await requestChallenge(fromSameAddress, {
    purpose: ChallengePurpose.SIGN_IN,
    accountId: owner.accountId,
  });
  for (let i = 0; i < 2; i++) {
    await expect(
      fromSameAddress.signIn({
        accountId: owner.accountId,
        nonce,
        signature: signPayload(generateAccountKey().privateKey, payload),
      }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
  }
  const session = await fromSameAddress.signIn({
    accountId: owner.accountId,
    nonce,
    signature: signPayload(owner.privateKey, payload),
  });
  expect(session.accountId).toBe(owner.accountId);
});

test("a client address that the gateway did not sign is ignored", async () => {
  // Calling identity directly and claiming a fresh address per call buys no fresh budget: all unsigned calls share one.
  let n = 0;
  const spoofed = () =>
    h
      .spoofingClient(`192.0.2.${n++}`)
      .createChallenge({ purpose: ChallengePurpose.REGISTER, publicKey: generateAccountKey().publicKey });
  for (let i = 0; i < 4; i++) await spoofed();
  await exhaustedWithoutChange(spoofed, "this network address");
  // A forged signature is no better.
  const forged = h
    .spoofingClient("x.9999999999999.forgedtag")
    .createChallenge({ purpose: ChallengePurpose.REGISTER, publicKey: generateAccountKey().publicKey });
  await expect(forged).rejects.toMatchObject({ code: Code.ResourceExhausted });
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
  expect(defaults.sessionTokenTtlMs).toBe(15 * 60_000);
  expect(() => loadConfig({ ...base, SESSION_TOKEN_TTL: "2h" })).toThrow(
    "SESSION_TOKEN_TTL must be between 2m and 60m",
  );
  // A production identity never signs with a key derived from a shared secret.
  expect(() => loadConfig({ ...base, NODE_ENV: "production" })).toThrow(
    "SESSION_SIGNING_KEY is required in production",
  );
  const seed = Buffer.alloc(32, 7);
  expect(Buffer.from(loadConfig({ ...base, SESSION_SIGNING_KEY: seed.toString("base64") }).sessionSigningSeed)).toEqual(
    seed,
  );
  expect(() => loadConfig({ ...base, SESSION_SIGNING_KEY: "c2hvcnQ=" })).toThrow("SESSION_SIGNING_KEY");
  expect(() => loadConfig({ ...base, CHALLENGE_TTL: "6m" })).toThrow("CHALLENGE_TTL must be between 10s and 5m");
  expect(() => loadConfig({ ...base, IDENTITY_RATE_LIMIT_ACCOUNT_BURST: "0" })).toThrow(
    "IDENTITY_RATE_LIMIT_ACCOUNT_BURST",
  );
  expect(() => loadConfig({ INTERNAL_AUTH_SECRET: "s".repeat(32) })).toThrow("IDENTITY_DATABASE_URL is required");
});
