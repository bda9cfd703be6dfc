import { randomBytes, randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ChallengePurpose } from "@seeme/contracts/identity";
import {
  challengePayload,
  generateAccountKey,
  registerAccount,
  registerAndSignIn,
  requestChallenge,
  signIn,
  signPayload,
} from "@seeme/testkit/accounts";
import { SessionTokenVerifier } from "@seeme/runtime/session-token";
import { sweepExpired } from "../src/sweeper.js";
import { waitFor } from "@seeme/testkit/health";
import { startHarness, type Harness } from "./harness.js";

/** A new account's sign-in request over a fresh SIGN_IN challenge, signed and not sent yet. */
async function signedSignIn(client: ReturnType<Harness["publicClient"]>) {
  const account = await registerAccount(client);
  const { nonce, payload } = await requestChallenge(client, {
    purpose: ChallengePurpose.SIGN_IN,
    accountId: account.accountId,
  });
  return {
    nonce,
    request: { accountId: account.accountId, nonce, signature: signPayload(account.privateKey, payload) },
  };
}

let h: Harness;

beforeAll(async () => {
  h = await startHarness("identity-sign-in");
});

afterAll(() => h.stop());

/** Runs `fn`, which must fail with `code`, and checks that no table changed. */
async function refusedWithoutChange(code: Code, fn: () => Promise<unknown>, message?: RegExp): Promise<void> {
  const before = await h.counts();
  const error = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toMatchObject({ code });
  if (message) expect((error as Error).message).toMatch(message);
  expect(await h.counts()).toEqual(before);
}

function tamper(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[copy.length - 1] ^= 0x01;
  return copy;
}

describe("register, challenge, sign in", () => {
  test("a registered key signs in and the session authenticates a call", async () => {
    const client = h.publicClient();
    const key = generateAccountKey();
    const before = await h.counts();

    const { nonce, payload } = await requestChallenge(client, {
      purpose: ChallengePurpose.REGISTER,
      publicKey: key.publicKey,
    });
    expect(nonce).toHaveLength(32);
    expect(Buffer.from(payload.subarray(0, 28)).toString()).toBe("see-me/identity/v1/register\n");
    const { account } = await client.register({
      publicKey: key.publicKey,
      nonce,
      signature: signPayload(key.privateKey, payload),
    });
    expect(account!.publicKey).toEqual(key.publicKey);
    expect(account!.accountId).toMatch(/^[0-9a-f-]{36}$/);

    const signInChallenge = await client.createChallenge({
      purpose: ChallengePurpose.SIGN_IN,
      accountId: account!.accountId,
    });
    expect(signInChallenge.payload).toEqual(
      challengePayload(ChallengePurpose.SIGN_IN, signInChallenge.nonce, account!.accountId),
    );
    expect(timestampDate(signInChallenge.expireTime!).getTime() - h.context.now().getTime()).toBeLessThanOrEqual(
      5 * 60_000,
    );
    const session = await client.signIn({
      accountId: account!.accountId,
      nonce: signInChallenge.nonce,
      signature: signPayload(key.privateKey, signInChallenge.payload),
    });
    expect(session.accountId).toBe(account!.accountId);
    // A short-lived token (SESSION_TOKEN_TTL, 15 min); the SDK signs in again before it ends.
    const lifeMs = timestampDate(session.expireTime!).getTime() - h.context.now().getTime();
    expect(lifeMs).toBeGreaterThan(15 * 60_000 - 5_000);
    expect(lifeMs).toBeLessThanOrEqual(15 * 60_000);
    // Signed by identity's key, carrying the account, a session id, the key version and both ends.
    const claims = await new SessionTokenVerifier([h.context.sessions.verifyKey], () =>
      h.context.now().getTime(),
    ).verify(session.sessionToken);
    expect(claims).toEqual({
      accountId: account!.accountId,
      sessionId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      keyRotatedAt: timestampDate(account!.keyRotateTime!).getTime(),
      issuedAt: expect.any(Number),
      expiresAt: Math.floor(timestampDate(session.expireTime!).getTime() / 1000) * 1000,
      sessionEndsAt: expect.any(Number),
    });
    expect(claims.expiresAt - claims.issuedAt).toBe(15 * 60_000);
    expect(claims.sessionEndsAt - claims.issuedAt).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(claims.sessionEndsAt - claims.issuedAt).toBeLessThan(24 * 3_600_000 + 1000);

    // The gateway resolves the bearer token, then forwards the call as that caller.
    const verified = await h.internalClient().verifySession({ sessionToken: session.sessionToken });
    expect(verified.accountId).toBe(account!.accountId);
    const me = await h.callerClient(verified.accountId).getAccount({});
    expect(me.account!.accountId).toBe(account!.accountId);
    expect(me.account!.publicKey).toEqual(key.publicKey);

    // Both challenges are used up; nothing is stored for the session.
    expect(await h.counts()).toEqual({ ...before, accounts: before.accounts + 1 });
  });

  test("each sign-in yields a distinct session", async () => {
    const client = h.publicClient();
    const account = await registerAndSignIn(client);
    const second = await signIn(client, account);
    expect(second).not.toBe(account.sessionToken);
    const internal = h.internalClient();
    expect((await internal.verifySession({ sessionToken: second })).accountId).toBe(account.accountId);
    expect((await internal.verifySession({ sessionToken: account.sessionToken })).accountId).toBe(account.accountId);
  });

  test("a key registers only once; registering it again answers like a fresh registration, with its account", async () => {
    const client = h.publicClient();
    const account = await registerAccount(client);
    const before = await h.counts();
    // Without the key nobody learns it is registered: the challenge is issued as for a new key...
    await client.createChallenge({ purpose: ChallengePurpose.REGISTER, publicKey: account.publicKey });
    // ...and only its holder, by signing, gets an answer: the same account, no second one.
    const again = await registerAccount(client, account);
    expect(again.accountId).toBe(account.accountId);
    expect((await h.counts()).accounts).toBe(before.accounts);
  });
});

describe("refused sign-ins leave the database unchanged", () => {
  test("a different key's signature", async () => {
    const client = h.publicClient();
    const account = await registerAccount(client);
    const { nonce, payload } = await requestChallenge(client, {
      purpose: ChallengePurpose.SIGN_IN,
      accountId: account.accountId,
    });
    const intruder = generateAccountKey();
    await refusedWithoutChange(
      Code.Unauthenticated,
      () =>
        client.signIn({ accountId: account.accountId, nonce, signature: signPayload(intruder.privateKey, payload) }),
      /current key/,
    );
  });

  test("a reused nonce", async () => {
    const client = h.publicClient();
    const { request } = await signedSignIn(client);
    await client.signIn(request);
    await refusedWithoutChange(Code.Unauthenticated, () => client.signIn(request), /used/);
  });

  test("two racing uses of one nonce make one session", async () => {
    const client = h.publicClient();
    const { request } = await signedSignIn(client);
    const results = await Promise.allSettled([client.signIn(request), client.signIn(request), client.signIn(request)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results)
      if (r.status === "rejected") expect(r.reason).toMatchObject({ code: Code.Unauthenticated });
  });

  test("two uses of one nonce that both found the challenge before either used it make one session", async () => {
    const client = h.publicClient();
    const { nonce, request } = await signedSignIn(client);
    let results: PromiseSettledResult<unknown>[] = [];
    // The test holds the challenge row: both sign-ins find it and verify the signature, then
    // queue to delete it. Released, the first deletes it and the second must be refused.
    await h.db.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM "Challenge" WHERE "nonce" = ${Buffer.from(nonce)} FOR UPDATE`;
        const [{ pid }] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        const racing = Promise.allSettled([client.signIn(request), client.signIn(request)]);
        expect(await waitFor(async () => (await h.blockedBehind(pid)) === 2, 20_000)).toBe(true);
        void racing.then((settled) => {
          results = settled;
        });
      },
      { timeout: 30_000 },
    );
    await waitFor(async () => results.length === 2, 20_000);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.find((r): r is PromiseRejectedResult => r.status === "rejected")?.reason).toMatchObject({
      code: Code.Unauthenticated,
    });
  });

  test("a key rotated between the signature check and the sign-in's commit: refused, no session for the old key", async () => {
    const client = h.publicClient();
    const { request } = await signedSignIn(client);
    const { publicKey: newKey } = generateAccountKey();
    let outcome: unknown;
    // The test's rotation holds the account row: the sign-in reads the old key, verifies the
    // signature with it, then waits for the row. Committed, the row no longer has that key.
    await h.db.$transaction(
      async (tx) => {
        await tx.$executeRaw`UPDATE "Account" SET "publicKey" = ${Buffer.from(newKey)}, "keyRotatedAt" = now()
          WHERE "id" = ${request.accountId}::uuid`;
        const [{ pid }] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        const signing = client.signIn(request).then(
          () => "signed in",
          (error: unknown) => error,
        );
        expect(await waitFor(async () => (await h.blockedBehind(pid)) === 1, 20_000)).toBe(true);
        void signing.then((result) => {
          outcome = result;
        });
      },
      { timeout: 30_000 },
    );
    expect(await waitFor(async () => outcome !== undefined, 20_000)).toBe(true);
    expect(outcome).toMatchObject({
      code: Code.Unauthenticated,
      rawMessage: expect.stringMatching(/^sign-in refused/),
    });
  });

  test("an expired nonce", async () => {
    const client = h.publicClient();
    const account = await registerAccount(client);
    const { nonce, payload } = await requestChallenge(client, {
      purpose: ChallengePurpose.SIGN_IN,
      accountId: account.accountId,
    });
    h.advance(5 * 60_000 + 1);
    await refusedWithoutChange(
      Code.Unauthenticated,
      () => client.signIn({ accountId: account.accountId, nonce, signature: signPayload(account.privateKey, payload) }),
      /expired/,
    );
  });

  test("a tampered signature", async () => {
    const client = h.publicClient();
    const account = await registerAccount(client);
    const { nonce, payload } = await requestChallenge(client, {
      purpose: ChallengePurpose.SIGN_IN,
      accountId: account.accountId,
    });
    await refusedWithoutChange(Code.Unauthenticated, () =>
      client.signIn({
        accountId: account.accountId,
        nonce,
        signature: tamper(signPayload(account.privateKey, payload)),
      }),
    );
    // The same nonce still works with the genuine signature: a failed attempt consumes nothing.
    const ok = await client.signIn({
      accountId: account.accountId,
      nonce,
      signature: signPayload(account.privateKey, payload),
    });
    expect(ok.accountId).toBe(account.accountId);
  });

  test("a signature over a tampered payload, or a challenge issued for another purpose or account", async () => {
    const client = h.publicClient();
    const account = await registerAccount(client);
    const other = await registerAccount(client);
    const { nonce, payload } = await requestChallenge(client, {
      purpose: ChallengePurpose.SIGN_IN,
      accountId: account.accountId,
    });
    await refusedWithoutChange(Code.Unauthenticated, () =>
      client.signIn({
        accountId: account.accountId,
        nonce,
        signature: signPayload(account.privateKey, tamper(payload)),
      }),
    );
    await refusedWithoutChange(Code.Unauthenticated, () =>
      client.signIn({
        accountId: other.accountId,
        nonce,
        signature: signPayload(other.privateKey, challengePayload(ChallengePurpose.SIGN_IN, nonce, other.accountId)),
      }),
    );
    const fresh = generateAccountKey();
    await refusedWithoutChange(Code.Unauthenticated, () =>
      client.register({
        publicKey: fresh.publicKey,
        nonce,
        signature: signPayload(fresh.privateKey, challengePayload(ChallengePurpose.REGISTER, nonce, fresh.publicKey)),
      }),
    );
  });

  test("an unknown account: challenged like a real one, refused like a wrong signature (its existence is not revealed)", async () => {
    const client = h.publicClient();
    const unknown = "00000000-0000-4000-8000-000000000000";
    const before = await h.counts();
    const challenge = await client.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: unknown });
    expect(challenge.nonce).toHaveLength(32);
    expect(challenge.payload).toEqual(challengePayload(ChallengePurpose.SIGN_IN, challenge.nonce, unknown));
    expect(timestampDate(challenge.expireTime!).getTime() - h.context.now().getTime()).toBeGreaterThan(60_000);
    // Never stored, so no signature can answer it.
    expect(await h.counts()).toEqual(before);
    const anyKey = generateAccountKey();
    const unknownRefusal = await client
      .signIn({
        accountId: unknown,
        nonce: challenge.nonce,
        signature: signPayload(anyKey.privateKey, challenge.payload),
      })
      .catch((e: unknown) => e);

    // The same refusal a real account gives a stranger's signature.
    const real = await registerAccount(client);
    const realChallenge = await requestChallenge(client, {
      purpose: ChallengePurpose.SIGN_IN,
      accountId: real.accountId,
    });
    const realRefusal = await client
      .signIn({
        accountId: real.accountId,
        nonce: realChallenge.nonce,
        signature: signPayload(anyKey.privateKey, realChallenge.payload),
      })
      .catch((e: unknown) => e);
    expect(unknownRefusal).toMatchObject({ code: Code.Unauthenticated });
    expect((unknownRefusal as Error).message).toBe((realRefusal as Error).message);
    await refusedWithoutChange(Code.Unauthenticated, () =>
      client.signIn({ accountId: unknown, nonce: randomBytes(32), signature: randomBytes(64) }),
    );
  });

  test("register with a wrong or foreign signature", async () => {
    const client = h.publicClient();
    const key = generateAccountKey();
    const { nonce, payload } = await requestChallenge(client, {
      purpose: ChallengePurpose.REGISTER,
      publicKey: key.publicKey,
    });
    await refusedWithoutChange(
      Code.Unauthenticated,
      () =>
        client.register({
          publicKey: key.publicKey,
          nonce,
          signature: signPayload(generateAccountKey().privateKey, payload),
        }),
      /does not verify/,
    );
    const other = generateAccountKey();
    // A nonce issued for one key cannot register another.
    await refusedWithoutChange(Code.Unauthenticated, () =>
      client.register({
        publicKey: other.publicKey,
        nonce,
        signature: signPayload(other.privateKey, challengePayload(ChallengePurpose.REGISTER, nonce, other.publicKey)),
      }),
    );
  });
});

describe("sessions", () => {
  test("an expired token is refused", async () => {
    const account = await registerAndSignIn(h.publicClient());
    const internal = h.internalClient();
    expect((await internal.verifySession({ sessionToken: account.sessionToken })).accountId).toBe(account.accountId);
    h.advance(15 * 60_000 + 10_000);
    await refusedWithoutChange(
      Code.Unauthenticated,
      () => internal.verifySession({ sessionToken: account.sessionToken }),
      /expired/,
    );
  });

  test("unknown and malformed tokens are refused", async () => {
    const internal = h.internalClient();
    for (const sessionToken of [randomBytes(32).toString("base64url"), "", "not a token", "x".repeat(10_000)]) {
      await refusedWithoutChange(Code.Unauthenticated, () => internal.verifySession({ sessionToken }));
    }
  });

  test("the internal API refuses callers without service credentials", async () => {
    const account = await registerAndSignIn(h.publicClient());
    const anonymous = h.internalClient(() => ({}));
    await expect(anonymous.verifySession({ sessionToken: account.sessionToken })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    await expect(anonymous.verifySignature({ accountId: account.accountId })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
  });

  test("account calls need a signed-in caller", async () => {
    const client = h.publicClient();
    await expect(client.getAccount({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(client.deleteAccount({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    await refusedWithoutChange(Code.Unauthenticated, () =>
      client.createChallenge({ purpose: ChallengePurpose.ROTATE_KEY, publicKey: generateAccountKey().publicKey }),
    );
  });

  test("the sweeper deletes expired challenges only", async () => {
    const client = h.publicClient();
    const stale = await registerAndSignIn(client);
    await client.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: stale.accountId });
    h.advance(24 * 3_600_000 + 1);
    const live = await registerAndSignIn(client);
    await client.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: live.accountId });
    const swept = await sweepExpired(h.context);
    expect(swept.challenges).toBeGreaterThanOrEqual(1);
    expect(await h.db.challenge.count({ where: { accountId: stale.accountId } })).toBe(0);
    expect(await h.db.challenge.count({ where: { accountId: live.accountId } })).toBe(1);
  });
});

describe("bad input is InvalidArgument and changes nothing", () => {
  const keys: Array<[string, Uint8Array]> = [
    ["31 bytes", randomBytes(31)],
    ["33 bytes", randomBytes(33)],
    ["empty", new Uint8Array()],
    ["a small-order point", new Uint8Array(32)],
  ];

  test.each(keys)("public key of %s", async (_name, publicKey) => {
    const client = h.publicClient();
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.createChallenge({ purpose: ChallengePurpose.REGISTER, publicKey }),
      /public_key/,
    );
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.register({ publicKey, nonce: randomBytes(32), signature: randomBytes(64) }),
      /public_key/,
    );
  });

  test("a key that is not a curve point", async () => {
    // y = 2 has no x on edwards25519.
    const notOnCurve = new Uint8Array(32);
    notOnCurve[0] = 2;
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => h.publicClient().createChallenge({ purpose: ChallengePurpose.REGISTER, publicKey: notOnCurve }),
      /not a valid Ed25519/,
    );
  });

  test("wrong nonce and signature sizes, account ids and purposes", async () => {
    const client = h.publicClient();
    const account = await registerAccount(client);
    const { publicKey } = generateAccountKey();
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.register({ publicKey, nonce: randomBytes(31), signature: randomBytes(64) }),
      /nonce/,
    );
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.register({ publicKey, nonce: randomBytes(32), signature: randomBytes(65) }),
      /signature must be a 64-byte Ed25519 signature, got 65 bytes/,
    );
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.signIn({ accountId: account.accountId, nonce: randomBytes(32), signature: new Uint8Array() }),
      /signature must be a 64-byte Ed25519 signature, got 0 bytes/,
    );
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.signIn({ accountId: "x".repeat(5000), nonce: randomBytes(32), signature: randomBytes(64) }),
      /account_id/,
    );
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: "' OR 1=1 --" }),
      /account_id/,
    );
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.createChallenge({ purpose: ChallengePurpose.UNSPECIFIED }),
      /purpose/,
    );
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId, publicKey }),
      /public_key must be empty/,
    );
    await refusedWithoutChange(
      Code.InvalidArgument,
      () => client.createChallenge({ purpose: ChallengePurpose.REGISTER, accountId: account.accountId, publicKey }),
      /account_id must be empty/,
    );
  });
});

describe("a challenge for an account deleted while it is issued", () => {
  /** Runs `call` while a test transaction has deleted `accountId` but not committed; then commits. */
  async function whileDeleting<T>(accountId: string, call: () => Promise<T>): Promise<PromiseSettledResult<T>> {
    let settled: PromiseSettledResult<T> | undefined;
    await h.db.$transaction(
      async (tx) => {
        await tx.$executeRaw`DELETE FROM "Account" WHERE "id" = ${accountId}::uuid`;
        const [{ pid }] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        const running = call().then(
          (value) => ({ status: "fulfilled", value }) as const,
          (reason: unknown) => ({ status: "rejected", reason }) as const,
        );
        // The call read the account (the delete is not visible yet); its challenge insert now
        // waits on the account row for the foreign-key check.
        expect(await waitFor(async () => (await h.blockedBehind(pid)) === 1, 20_000)).toBe(true);
        void running.then((result) => {
          settled = result;
        });
      },
      { timeout: 30_000 },
    );
    await waitFor(async () => settled !== undefined, 20_000);
    return settled!;
  }

  test("a sign-in challenge is issued as for any unknown account, and nothing is stored", async () => {
    const account = await registerAccount(h.publicClient());
    const result = await whileDeleting(account.accountId, () =>
      h.publicClient().createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId }),
    );
    expect(result.status).toBe("fulfilled");
    expect(await h.db.challenge.count({ where: { accountId: account.accountId } })).toBe(0);
  });

  test("a rotate-key challenge is refused Unauthenticated: the account no longer exists", async () => {
    const account = await registerAccount(h.publicClient());
    const result = await whileDeleting(account.accountId, () =>
      h
        .callerClient(account.accountId)
        .createChallenge({ purpose: ChallengePurpose.ROTATE_KEY, publicKey: generateAccountKey().publicKey }),
    );
    expect(result).toMatchObject({
      status: "rejected",
      reason: { code: Code.Unauthenticated, rawMessage: "account no longer exists" },
    });
  });
});

test("a Register that loses the race to another registration of the same key answers with the winner's account", async () => {
  const key = generateAccountKey();
  const winner = randomUUID();
  let result: Promise<{ accountId: string }> | undefined;
  await h.db.$transaction(
    async (tx) => {
      // The other registration has inserted the key's account but not committed: this Register
      // finds no account for the key, and its insert waits on the key's unique index.
      await tx.$executeRaw`
        INSERT INTO "Account" ("id", "publicKey", "createdAt", "keyRotatedAt")
        VALUES (${winner}::uuid, ${Buffer.from(key.publicKey)}, now(), now())`;
      const [{ pid }] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      result = registerAccount(h.publicClient(), key);
      result.catch(() => undefined);
      expect(await waitFor(async () => (await h.blockedBehind(pid)) === 1, 20_000)).toBe(true);
    },
    { timeout: 30_000 },
  );
  await expect(result).resolves.toMatchObject({ accountId: winner });
});

describe("a database fault is an internal error, never a refusal", () => {
  // A refusal would tell the person their key or account is wrong when it is not, and a
  // sign-in refusal counts against the account's failed-proof limit.
  test("a challenge that cannot be stored is not handed out", async () => {
    const client = h.publicClient();
    const account = await registerAccount(client);
    await h.db.$executeRawUnsafe(`CREATE FUNCTION fail_challenge() RETURNS trigger LANGUAGE plpgsql
      AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`);
    await h.db.$executeRawUnsafe(
      `CREATE TRIGGER fail_challenge BEFORE INSERT ON "Challenge" FOR EACH ROW EXECUTE FUNCTION fail_challenge()`,
    );
    try {
      await refusedWithoutChange(
        Code.Internal,
        () => requestChallenge(client, { purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId }),
        /^\[internal\] internal error$/,
      );
    } finally {
      await h.db.$executeRawUnsafe(`DROP TRIGGER fail_challenge ON "Challenge"`);
      await h.db.$executeRawUnsafe(`DROP FUNCTION fail_challenge()`);
    }
  });

  test("a challenge that cannot be read", async () => {
    const client = h.publicClient();
    const { request } = await signedSignIn(client);
    const before = await h.counts();
    await h.db.$executeRawUnsafe(`ALTER TABLE "Challenge" RENAME TO "ChallengeAway"`);
    try {
      // Nothing of the fault (table names, SQL) reaches the caller.
      await expect(client.signIn(request)).rejects.toMatchObject({ code: Code.Internal, rawMessage: "internal error" });
    } finally {
      await h.db.$executeRawUnsafe(`ALTER TABLE "ChallengeAway" RENAME TO "Challenge"`);
    }
    expect(await h.counts()).toEqual(before);
    // The challenge is still there, and the same sign-in now succeeds.
    expect((await client.signIn(request)).sessionToken).not.toBe("");
  });
});

describe("VerifySignature", () => {
  test("true only for the account's current key over the exact payload", async () => {
    const account = await registerAccount(h.publicClient());
    const internal = h.internalClient();
    const payload = new TextEncoder().encode("invite:A->B");
    const signature = signPayload(account.privateKey, payload);
    expect((await internal.verifySignature({ accountId: account.accountId, payload, signature })).valid).toBe(true);
    expect(
      (await internal.verifySignature({ accountId: account.accountId, payload: tamper(payload), signature })).valid,
    ).toBe(false);
    expect(
      (await internal.verifySignature({ accountId: account.accountId, payload, signature: tamper(signature) })).valid,
    ).toBe(false);
    expect(
      (
        await internal.verifySignature({
          accountId: account.accountId,
          payload,
          signature: signPayload(generateAccountKey().privateKey, payload),
        })
      ).valid,
    ).toBe(false);
    expect(
      (await internal.verifySignature({ accountId: "00000000-0000-4000-8000-000000000000", payload, signature })).valid,
    ).toBe(false);
  });

  test("malformed requests are InvalidArgument", async () => {
    const account = await registerAccount(h.publicClient());
    const internal = h.internalClient();
    await expect(
      internal.verifySignature({ accountId: "nope", payload: new Uint8Array(1), signature: randomBytes(64) }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(
      internal.verifySignature({
        accountId: account.accountId,
        payload: new Uint8Array(1),
        signature: randomBytes(63),
      }),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "signature must be a 64-byte Ed25519 signature, got 63 bytes",
    });
    await expect(
      internal.verifySignature({
        accountId: account.accountId,
        payload: new Uint8Array(4097),
        signature: randomBytes(64),
      }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: "payload must be at most 4096 bytes, got 4097" });
  });

  test("a payload of exactly 4096 bytes is verified, not refused", async () => {
    const account = await registerAccount(h.publicClient());
    const payload = new Uint8Array(4096).fill(7);
    const signature = signPayload(account.privateKey, payload);
    expect((await h.internalClient().verifySignature({ accountId: account.accountId, payload, signature })).valid).toBe(
      true,
    );
  });
});
