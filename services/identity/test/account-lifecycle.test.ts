import { Code } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { pino } from "pino";
import { ChallengePurpose } from "@seeme/contracts/identity";
import { events } from "@seeme/contracts/subjects";
import { connectEventBus, type ConsumerHandle, type EventBus } from "@seeme/runtime/nats";
import {
  generateAccountKey,
  registerAccount,
  registerAndSignIn,
  requestChallenge,
  rotateAccountKey,
  signIn,
  signPayload,
} from "@seeme/testkit/accounts";
import { waitFor } from "@seeme/testkit/health";
import { collector } from "@seeme/testkit/nats";
import { sweepExpired } from "../src/sweeper.js";
import { startHarness, type Harness } from "./harness.js";

let h: Harness;
let bus: EventBus;
const consumers: ConsumerHandle[] = [];
const deleted = collector<{ eventId: string; accountId: string; deleteTime: Date }>();
const rotated = collector<{ eventId: string; accountId: string }>();

beforeAll(async () => {
  h = await startHarness("identity-lifecycle");
  // A real JetStream durable consumer, as the connection and location services use.
  bus = await connectEventBus({
    url: h.testBus.url,
    prefix: h.testBus.prefix,
    name: "lifecycle-test",
    log: pino({ level: "silent" }),
  });
  consumers.push(
    await bus.consume(events.accountDeleted, {
      durable: "lifecycle-test",
      handler: (m) =>
        deleted.push({ eventId: m.eventId, accountId: m.accountId, deleteTime: timestampDate(m.deleteTime!) }),
    }),
  );
  consumers.push(
    await bus.consume(events.accountKeyRotated, {
      durable: "lifecycle-test",
      handler: (m) => rotated.push({ eventId: m.eventId, accountId: m.accountId }),
    }),
  );
});

afterAll(async () => {
  await bus.drain();
  await h.stop();
});

async function refusedWithoutChange(code: Code, fn: () => Promise<unknown>, message?: string): Promise<void> {
  const before = await h.counts();
  await expect(fn()).rejects.toMatchObject({ code, ...(message === undefined ? {} : { rawMessage: message }) });
  expect(await h.counts()).toEqual(before);
}

describe("key rotation", () => {
  test("the new key signs in; the old key and old sessions are refused", async () => {
    const client = h.publicClient();
    const account = await registerAndSignIn(client);
    const otherSession = await signIn(client, account);
    const internal = h.internalClient();
    h.advance(60_000);

    const newKey = await rotateAccountKey(h.callerClient(account.accountId), account);
    const { account: after } = await h.callerClient(account.accountId).getAccount({});
    expect(after!.publicKey).toEqual(newKey.publicKey);
    expect(timestampDate(after!.keyRotateTime!).getTime()).toBeGreaterThan(timestampDate(after!.createTime!).getTime());

    for (const sessionToken of [account.sessionToken, otherSession]) {
      await expect(internal.verifySession({ sessionToken })).rejects.toMatchObject({ code: Code.Unauthenticated });
    }

    await expect(signIn(client, account)).rejects.toMatchObject({ code: Code.Unauthenticated });
    const fresh = await signIn(client, { accountId: account.accountId, privateKey: newKey.privateKey });
    expect((await internal.verifySession({ sessionToken: fresh })).accountId).toBe(account.accountId);

    const payload = new TextEncoder().encode("invite");
    expect(
      (
        await internal.verifySignature({
          accountId: account.accountId,
          payload,
          signature: signPayload(account.privateKey, payload),
        })
      ).valid,
    ).toBe(false);
    expect(
      (
        await internal.verifySignature({
          accountId: account.accountId,
          payload,
          signature: signPayload(newKey.privateKey, payload),
        })
      ).valid,
    ).toBe(true);

    const events = await rotated.take(1);
    expect(events[0].accountId).toBe(account.accountId);
    const row = await h.db.outboxEvent.findUnique({ where: { id: events[0].eventId } });
    expect(row?.event).toBe("accountKeyRotated");
  });

  test("either signature missing or wrong, or a challenge for another key or account, changes nothing", async () => {
    const account = await registerAccount(h.publicClient());
    const stranger = await registerAccount(h.publicClient());
    const mine = h.callerClient(account.accountId);
    const newKey = generateAccountKey();
    const { nonce, payload } = await requestChallenge(mine, {
      purpose: ChallengePurpose.ROTATE_KEY,
      publicKey: newKey.publicKey,
    });
    const good = {
      newPublicKey: newKey.publicKey,
      nonce,
      oldSignature: signPayload(account.privateKey, payload),
      newSignature: signPayload(newKey.privateKey, payload),
    };
    const third = generateAccountKey();

    await refusedWithoutChange(
      Code.Unauthenticated,
      () => mine.rotateKey({ ...good, newSignature: signPayload(third.privateKey, payload) }),
      "new_signature does not verify with new_public_key",
    );
    await refusedWithoutChange(
      Code.Unauthenticated,
      () => mine.rotateKey({ ...good, oldSignature: signPayload(third.privateKey, payload) }),
      "old_signature does not verify with the account's current key",
    );
    await refusedWithoutChange(Code.InvalidArgument, () => mine.rotateKey({ ...good, oldSignature: new Uint8Array() }));
    // The nonce belongs to `account`: another account cannot use it, even signing correctly.
    await refusedWithoutChange(Code.Unauthenticated, () =>
      h
        .callerClient(stranger.accountId)
        .rotateKey({ ...good, oldSignature: signPayload(stranger.privateKey, payload) }),
    );
    // ...and it was issued for newKey, not for a third key.
    await refusedWithoutChange(Code.Unauthenticated, () =>
      mine.rotateKey({ ...good, newPublicKey: third.publicKey, newSignature: signPayload(third.privateKey, payload) }),
    );
    // A key that is taken is told only to whoever signs with it (no probing by challenge).
    const taken = await requestChallenge(mine, { purpose: ChallengePurpose.ROTATE_KEY, publicKey: stranger.publicKey });
    await refusedWithoutChange(
      Code.AlreadyExists,
      () =>
        mine.rotateKey({
          newPublicKey: stranger.publicKey,
          nonce: taken.nonce,
          oldSignature: signPayload(account.privateKey, taken.payload),
          newSignature: signPayload(stranger.privateKey, taken.payload),
        }),
      "new_public_key is already registered",
    );
    expect((await mine.getAccount({})).account!.publicKey).toEqual(account.publicKey);

    // The answer is the account as it now is.
    expect((await mine.rotateKey(good)).account).toMatchObject({
      accountId: account.accountId,
      publicKey: newKey.publicKey,
    });
    expect((await mine.getAccount({})).account!.publicKey).toEqual(newKey.publicKey);
    // The challenge is single-use.
    await refusedWithoutChange(Code.Unauthenticated, () => mine.rotateKey(good));
  });

  test("names the malformed field of a rotation, and asks a rotate-key challenge for no account_id", async () => {
    const account = await registerAndSignIn(h.publicClient());
    const caller = h.callerClient(account.accountId);
    const newKey = generateAccountKey();
    const { nonce } = await requestChallenge(caller, {
      purpose: ChallengePurpose.ROTATE_KEY,
      publicKey: newKey.publicKey,
    });
    const good = {
      newPublicKey: newKey.publicKey,
      nonce,
      oldSignature: new Uint8Array(64),
      newSignature: new Uint8Array(64),
    };
    for (const [field, bad] of [
      ["new_public_key", { newPublicKey: new Uint8Array(5) }],
      ["old_signature", { oldSignature: new Uint8Array(3) }],
      ["new_signature", { newSignature: new Uint8Array(3) }],
    ] as const) {
      const error = await caller.rotateKey({ ...good, ...bad }).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: Code.InvalidArgument,
        rawMessage: expect.stringMatching(new RegExp(`^${field} `)),
      });
    }
    await expect(
      caller.createChallenge({
        purpose: ChallengePurpose.ROTATE_KEY,
        accountId: account.accountId,
        publicKey: newKey.publicKey,
      }),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "account_id must be empty for a rotate-key challenge: it is the signed-in caller",
    });
    await expect(
      caller.createChallenge({ purpose: ChallengePurpose.ROTATE_KEY, publicKey: new Uint8Array(5) }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/^public_key /) });
    await expect(
      h.publicClient().createChallenge({ purpose: ChallengePurpose.ROTATE_KEY, publicKey: newKey.publicKey }),
    ).rejects.toMatchObject({
      code: Code.Unauthenticated,
      rawMessage: "a rotate-key challenge requires a signed-in caller",
    });
  });
});

test("a rotation whose account key changed after it was read is refused Unauthenticated, and the other change stands", async () => {
  const account = await registerAccount(h.publicClient());
  const mine = h.callerClient(account.accountId);
  const newKey = generateAccountKey();
  const { nonce, payload } = await requestChallenge(mine, {
    purpose: ChallengePurpose.ROTATE_KEY,
    publicKey: newKey.publicKey,
  });
  const other = generateAccountKey();
  let rotating: Promise<unknown> | undefined;
  await h.db.$transaction(
    async (tx) => {
      // Another rotation has changed the key but not committed: this one reads the old key,
      // verifies both signatures, and waits on the account row for its own update.
      await tx.$executeRaw`UPDATE "Account" SET "publicKey" = ${Buffer.from(other.publicKey)} WHERE "id" = ${account.accountId}::uuid`;
      const [{ pid }] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      rotating = mine.rotateKey({
        newPublicKey: newKey.publicKey,
        nonce,
        oldSignature: signPayload(account.privateKey, payload),
        newSignature: signPayload(newKey.privateKey, payload),
      });
      rotating.catch(() => undefined);
      expect(await waitFor(async () => (await h.blockedBehind(pid)) === 1, 20_000)).toBe(true);
    },
    { timeout: 30_000 },
  );
  await expect(rotating).rejects.toMatchObject({
    code: Code.Unauthenticated,
    rawMessage: "the account key changed meanwhile; sign in again",
  });
  const row = await h.db.account.findUnique({ where: { id: account.accountId } });
  expect(Buffer.from(row!.publicKey)).toEqual(Buffer.from(other.publicKey));
});

describe("account deletion", () => {
  test("revokes sessions at once, erases the account and emits one event, even if relayed twice", async () => {
    const client = h.publicClient();
    const first = await registerAndSignIn(client);
    const secondSession = await signIn(client, first);
    await client.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: first.accountId });
    const internal = h.internalClient();
    const asFirst = h.callerClient(first.accountId);

    const { deleteTime } = await asFirst.deleteAccount({});
    for (const sessionToken of [first.sessionToken, secondSession]) {
      await expect(internal.verifySession({ sessionToken })).rejects.toMatchObject({ code: Code.Unauthenticated });
    }
    await expect(asFirst.getAccount({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(await h.db.account.count({ where: { id: first.accountId } })).toBe(0);
    expect(await h.db.challenge.count({ where: { accountId: first.accountId } })).toBe(0);
    await expect(signIn(client, first)).rejects.toMatchObject({ code: Code.Unauthenticated });
    const payload = new TextEncoder().encode("x");
    expect(
      (
        await internal.verifySignature({
          accountId: first.accountId,
          payload,
          signature: signPayload(first.privateKey, payload),
        })
      ).valid,
    ).toBe(false);

    // A second delete (e.g. through a briefly cached session) is refused and writes nothing.
    await refusedWithoutChange(Code.Unauthenticated, () => asFirst.deleteAccount({}));

    const [event] = await deleted.take(1);
    expect(event.accountId).toBe(first.accountId);
    expect(event.deleteTime).toEqual(timestampDate(deleteTime!));

    // The relay publishes the same row again, as after a crash before marking it.
    await h.db.outboxEvent.update({ where: { id: event.eventId }, data: { publishedAt: null } });
    h.context.publishEvents();
    expect(
      await waitFor(
        async () => (await h.db.outboxEvent.findUnique({ where: { id: event.eventId } }))?.publishedAt != null,
      ),
    ).toBe(true);

    // Two racing deletes of another account: one wins, one event.
    const second = await registerAndSignIn(client);
    const asSecond = h.callerClient(second.accountId);
    const results = await Promise.allSettled([asSecond.deleteAccount({}), asSecond.deleteAccount({})]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    const third = await registerAndSignIn(client);
    await h.callerClient(third.accountId).deleteAccount({});

    // Events arrive in stream order, so any duplicate would show up before the later ones.
    const all = await deleted.take(3);
    expect(all.map((e) => e.accountId)).toEqual([first.accountId, second.accountId, third.accountId]);
    expect(new Set(all.map((e) => e.eventId)).size).toBe(3);
  });

  test("deleting one account leaves every other account as it was", async () => {
    const client = h.publicClient();
    const leaving = await registerAndSignIn(client);
    const staying = await registerAndSignIn(client);
    await h.callerClient(leaving.accountId).deleteAccount({});
    expect(await h.db.account.count({ where: { id: staying.accountId } })).toBe(1);
    const { account } = await h.callerClient(staying.accountId).getAccount({});
    expect(account!.accountId).toBe(staying.accountId);
    const internal = h.internalClient();
    expect((await internal.verifySession({ sessionToken: staying.sessionToken })).accountId).toBe(staying.accountId);
    await h.callerClient(staying.accountId).deleteAccount({});
  });

  test("deleted accounts' event rows are swept after their retention", async () => {
    const account = await registerAndSignIn(h.publicClient());
    await h.callerClient(account.accountId).deleteAccount({});
    await waitFor(async () => (await h.db.outboxEvent.count({ where: { publishedAt: null } })) === 0);
    h.advance(61 * 60_000);
    await sweepExpired(h.context);
    expect(await h.db.outboxEvent.count()).toBe(0);
  });
});
