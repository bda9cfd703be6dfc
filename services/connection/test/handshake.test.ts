import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { ConfirmStatus } from "@seeme/contracts/connection";
import { waitFor } from "@seeme/testkit/health";
import { createSigner } from "../src/signing-key.js";
import { confirmPayload, invitePayload } from "@seeme/contracts/protocol";
import { ed25519 } from "@noble/curves/ed25519.js";
import { bindTo, recipientProof } from "@seeme/testkit/pairing";
import {
  clientAs,
  eventWatcher,
  newPairId,
  registerAccount,
  SEED,
  startSuite,
  testClock,
  type Account,
} from "./helpers.js";

const clock = testClock();
let suite: Awaited<ReturnType<typeof startSuite>>;
let watcher: Awaited<ReturnType<typeof eventWatcher>>;
const clients: Array<{ close(): void }> = [];

beforeAll(async () => {
  suite = await startSuite("handshake", { now: clock.now });
  watcher = await eventWatcher(suite.bus, "handshake-test");
});

afterAll(async () => {
  clients.forEach((c) => c.close());
  await watcher.close();
  await suite.stop();
});

function as(account: Account | undefined) {
  const client = clientAs(suite.address, account?.id);
  clients.push(client);
  return client;
}

function newAccount() {
  const account = registerAccount(suite.identity);
  return { account, client: as(account) };
}

/**
 * A initiates {a, b} bound to B's key; returns the pair, the server signature A
 * shows B, and `request`: the ConfirmConnection B sends (signed with its key).
 */
async function invite(a: ReturnType<typeof newAccount>) {
  const sender = newPairId();
  const recipient = newPairId();
  const { serverSignature } = await a.client.initiateConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature: a.account.signInitiate(sender, recipient),
    ...bindTo(recipient),
  });
  const request = {
    senderPairId: sender,
    recipientPairId: recipient,
    serverSignature,
    ...recipientProof(sender, recipient),
  };
  return { sender, recipient, serverSignature, request };
}

/** A's initiate of {sender, recipient}, bound to the recipient's key, carrying `accountSignature`. */
function initiateSignedWith(
  a: ReturnType<typeof newAccount>,
  sender: string,
  recipient: string,
  accountSignature: Uint8Array,
) {
  return a.client.initiateConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature,
    ...bindTo(recipient),
  });
}

/** Runs `refused` after the relay has emptied the outbox and proves the database did not change. */
async function expectRefusal(refused: Promise<unknown>, code: Code, message?: RegExp) {
  const before = await stableSnapshot();
  await expect(refused).rejects.toMatchObject({
    code,
    ...(message ? { rawMessage: expect.stringMatching(message) } : {}),
  });
  expect(await suite.tables.snapshot()).toBe(before);
}

async function stableSnapshot(): Promise<string> {
  expect(await waitFor(async () => (await suite.tables.count("outbox_events")) === 0)).toBe(true);
  return suite.tables.snapshot();
}

test("the seed's happy path: initiate, confirm, both sides see their view, events go out", async () => {
  const a = newAccount();
  const b = newAccount();
  const sender = newPairId();
  const recipient = newPairId();
  const initiated = await a.client.initiateConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature: a.account.signInitiate(sender, recipient),
    ...bindTo(recipient),
  });
  // The server's own Ed25519 signature over the invite payload, verifiable with its public key.
  const key = bindTo(recipient).recipientSigningPublicKey;
  expect(createSigner(SEED).verify(invitePayload(sender, recipient, key), initiated.serverSignature)).toBe(true);
  expect(Number(initiated.expireTime!.seconds) * 1000).toBe(
    Math.floor((clock.now().getTime() + 15 * 60_000) / 1000) * 1000,
  );

  const confirmed = await b.client.confirmConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    serverSignature: initiated.serverSignature,
    ...recipientProof(sender, recipient),
  });
  expect(confirmed.status).toBe(ConfirmStatus.CONFIRMED);
  expect(confirmed.connection).toMatchObject({ pairId: recipient, peerPairId: sender, rekeyDue: false });
  expect(confirmed.connection!.packetLife!.seconds).toBe(BigInt(7 * 24 * 3600));

  const [aView] = (await a.client.listConnections({})).connections;
  const [bView] = (await b.client.listConnections({})).connections;
  expect(aView).toMatchObject({ pairId: sender, peerPairId: recipient, rekeyDue: false });
  expect(bView).toMatchObject({ pairId: recipient, peerPairId: sender, rekeyDue: false });

  // The initiator's type 5 / sub-type 3 notice is made by the relay from this event.
  const [event] = await watcher.confirmed.take(1);
  expect(event).toMatchObject({
    initiator: a.account.id,
    recipient: b.account.id,
    initiatorPairId: sender,
    recipientPairId: recipient,
  });

  const rows = await suite.tables.rows("connections");
  const row = rows.find((r) => r.initiator_pair_id === sender);
  expect(row).toMatchObject({
    initiator_account_id: a.account.id,
    recipient_account_id: b.account.id,
    recipient_pair_id: recipient,
  });
  const invites = await suite.tables.rows("invites");
  expect(invites.find((r) => r.sender_pair_id === sender)?.used_at).not.toBeNull();
});

test("repeating an initiate returns the same invite; another account cannot take the pair", async () => {
  const a = newAccount();
  const first = await invite(a);
  const again = await a.client.initiateConnection({
    senderPairId: first.sender,
    recipientPairId: first.recipient,
    accountSignature: a.account.signInitiate(first.sender, first.recipient),
    ...bindTo(first.recipient),
  });
  expect(Buffer.from(again.serverSignature)).toEqual(Buffer.from(first.serverSignature));

  const eve = newAccount();
  await expectRefusal(
    eve.client.initiateConnection({
      senderPairId: first.sender,
      recipientPairId: first.recipient,
      accountSignature: eve.account.signInitiate(first.sender, first.recipient),
      ...bindTo(first.recipient),
    }),
    Code.AlreadyExists,
    /pending invite/,
  );
});

test("refuses a bad account signature with PermissionDenied and writes nothing", async () => {
  const a = newAccount();
  const other = newAccount();
  const sender = newPairId();
  const recipient = newPairId();
  const cases = [
    other.account.signInitiate(sender, recipient), // someone else's key
    a.account.signInitiate(recipient, sender), // the reversed pair
    a.account.signInitiate(sender, newPairId()), // another pair
    new Uint8Array(64), // garbage of the right length
  ];
  for (const accountSignature of cases) {
    await expectRefusal(initiateSignedWith(a, sender, recipient, accountSignature), Code.PermissionDenied);
  }
  // A caller identity can sign for nobody else: B's valid signature does not work for A.
  await expectRefusal(
    a.client.initiateConnection({
      senderPairId: sender,
      recipientPairId: recipient,
      accountSignature: cases[0],
      ...bindTo(recipient),
    }),
    Code.PermissionDenied,
  );
  await expectRefusal(
    a.client.initiateConnection({
      senderPairId: sender,
      recipientPairId: recipient,
      accountSignature: new Uint8Array(63),
      ...bindTo(recipient),
    }),
    Code.InvalidArgument,
    /64-byte/,
  );
});

test("refuses a forged or altered server signature with PermissionDenied", async () => {
  const a = newAccount();
  const b = newAccount();
  const real = await invite(a);
  const flipped = Uint8Array.from(real.serverSignature);
  flipped[10] ^= 1;
  const bKey = bindTo(real.recipient).recipientSigningPublicKey;
  const otherKey = createSigner(randomBytes(32)).sign(invitePayload(real.sender, real.recipient, bKey));
  // Each signed by the key bound into it, so only the server signature is wrong.
  const confirm = (senderPairId: string, recipientPairId: string, serverSignature: Uint8Array) => ({
    senderPairId,
    recipientPairId,
    serverSignature,
    ...recipientProof(senderPairId, recipientPairId),
  });
  const cases = [
    confirm(real.sender, real.recipient, flipped),
    confirm(real.sender, real.recipient, otherKey),
    confirm(real.sender, real.recipient, randomBytes(64)),
    // The real signature, presented for an altered pair.
    confirm(real.sender, newPairId(), real.serverSignature),
    confirm(real.recipient, real.sender, real.serverSignature),
  ];
  for (const request of cases)
    await expectRefusal(b.client.confirmConnection(request), Code.PermissionDenied, /server_signature/);
  await expectRefusal(
    b.client.confirmConnection({ ...cases[0], serverSignature: new Uint8Array(0) }),
    Code.InvalidArgument,
    /^server_signature must be a 64-byte/,
  );
  // A signature for a pair nobody initiated is refused even when genuinely ours (invites are records, not just signatures).
  const s = newPairId();
  const r = newPairId();
  await expectRefusal(
    b.client.confirmConnection({
      senderPairId: s,
      recipientPairId: r,
      serverSignature: createSigner(SEED).sign(invitePayload(s, r, bindTo(r).recipientSigningPublicKey)),
      ...recipientProof(s, r),
    }),
    Code.NotFound,
  );
});

test("refuses an expired invite with FailedPrecondition, then NotFound once swept (initiator told)", async () => {
  const a = newAccount();
  const b = newAccount();
  const pending = await invite(a);
  clock.advance(15 * 60_000);
  const { request } = pending;
  await expectRefusal(b.client.confirmConnection(request), Code.FailedPrecondition, /expired/);

  // Earlier tests' pending invites expire in the same sweep.
  const seen = watcher.expired.items.length;
  const swept = await suite.service.sweeper.sweep();
  expect(swept).toBeGreaterThanOrEqual(1);
  const expired = (await watcher.expired.take(seen + swept)).slice(seen);
  expect(expired).toContainEqual(
    expect.objectContaining({ initiator: a.account.id, sender: pending.sender, recipient: pending.recipient }),
  );
  await expectRefusal(b.client.confirmConnection(request), Code.NotFound);
});

test("refuses a reused invite with FailedPrecondition and a self-confirm with PermissionDenied", async () => {
  const a = newAccount();
  const b = newAccount();
  const c = newAccount();
  const inv = await invite(a);
  const { request } = inv;
  await expectRefusal(a.client.confirmConnection(request), Code.PermissionDenied, /own invite/);
  await b.client.confirmConnection(request);
  await expectRefusal(c.client.confirmConnection(request), Code.FailedPrecondition, /already used/);
  await expectRefusal(b.client.confirmConnection(request), Code.FailedPrecondition, /already used/);
  // Once used, the invite is used for everyone, its initiator too (not a self-confirm any more).
  await expectRefusal(a.client.confirmConnection(request), Code.FailedPrecondition, /already used/);
});

test("an invite bound to B's key is confirmed only with B's signature (a bystander with the code cannot)", async () => {
  const a = newAccount();
  const b = newAccount();
  const c = newAccount();
  const bKey = ed25519.keygen();
  const sender = newPairId();
  const recipient = newPairId();
  const { serverSignature } = await a.client.initiateConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature: a.account.signInitiate(sender, recipient),
    recipientSigningPublicKey: bKey.publicKey,
  });
  // The server signature covers the key.
  expect(createSigner(SEED).verify(invitePayload(sender, recipient, bKey.publicKey), serverSignature)).toBe(true);
  const code = { senderPairId: sender, recipientPairId: recipient, serverSignature };
  const signedBy = (secretKey: Uint8Array) => ed25519.sign(confirmPayload(sender, recipient), secretKey);
  const cKey = ed25519.keygen();
  // What the QR code shows, as a bearer token: refused, naming what a confirm must carry.
  await expectRefusal(
    c.client.confirmConnection(code),
    Code.InvalidArgument,
    /recipient_signing_public_key must be a 32-byte Ed25519 public key: the connection signing key whose public half was in this device's code/,
  );
  await expectRefusal(
    c.client.confirmConnection({ ...code, recipientSigningPublicKey: bKey.publicKey }),
    Code.InvalidArgument,
    /recipient_signature/,
  );
  // C's own key in place of B's: the server signature does not cover it.
  await expectRefusal(
    c.client.confirmConnection({
      ...code,
      recipientSigningPublicKey: cKey.publicKey,
      recipientSignature: signedBy(cKey.secretKey),
    }),
    Code.PermissionDenied,
    /server_signature/,
  );
  // B's public key (it was in B's code) with a signature B did not make.
  await expectRefusal(
    c.client.confirmConnection({
      ...code,
      recipientSigningPublicKey: bKey.publicKey,
      recipientSignature: signedBy(cKey.secretKey),
    }),
    Code.PermissionDenied,
    /recipient_signature/,
  );
  await expectRefusal(
    c.client.confirmConnection({ ...code, recipientSigningPublicKey: bKey.publicKey.subarray(0, 31) }),
    Code.InvalidArgument,
    /recipient_signing_public_key/,
  );
  const confirmed = await b.client.confirmConnection({
    ...code,
    recipientSigningPublicKey: bKey.publicKey,
    recipientSignature: signedBy(bKey.secretKey),
  });
  expect(confirmed.status).toBe(ConfirmStatus.CONFIRMED);
  expect(confirmed.connection?.pairId).toBe(recipient);
});

test("an initiate without the recipient's key is refused with InvalidArgument naming it; nothing is written", async () => {
  const a = newAccount();
  const sender = newPairId();
  const recipient = newPairId();
  const unbound = {
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature: a.account.signInitiate(sender, recipient),
  };
  await expectRefusal(
    a.client.initiateConnection(unbound),
    Code.InvalidArgument,
    /recipient_signing_public_key must be a 32-byte Ed25519 public key: the recipient's connection signing key/,
  );
  await expectRefusal(
    a.client.initiateConnection({ ...unbound, recipientSigningPublicKey: new Uint8Array(33) }),
    Code.InvalidArgument,
    /recipient_signing_public_key/,
  );
  expect((await suite.tables.rows("invites")).filter((row) => row.sender_pair_id === sender)).toEqual([]);
});

test("an initiate whose account signature is not 64 bytes is refused with InvalidArgument naming the field; nothing is written", async () => {
  const a = newAccount();
  const sender = newPairId();
  const recipient = newPairId();
  for (const accountSignature of [new Uint8Array(0), a.account.signInitiate(sender, recipient).subarray(0, 63)]) {
    await expectRefusal(
      initiateSignedWith(a, sender, recipient, accountSignature),
      Code.InvalidArgument,
      /^account_signature must be a 64-byte Ed25519 signature$/,
    );
  }
  expect((await suite.tables.rows("invites")).filter((row) => row.sender_pair_id === sender)).toEqual([]);
});

test("a confirm that loses a race for a pairID to another invite's confirm hears AlreadyExists too, and changes nothing", async () => {
  const a = newAccount();
  const b = newAccount();
  const inv = await invite(a);
  const before = await stableSnapshot();
  // Another invite's confirm has claimed the recipient's pairID and not committed yet: this
  // confirm's check cannot see it, and its own insert waits for it, then finds it taken.
  const other = await suite.tables.connect();
  try {
    await other.query("BEGIN");
    await other.query("INSERT INTO used_pair_ids (pair_id) VALUES ($1)", [inv.recipient]);
    const { rows } = await other.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    const confirming = b.client.confirmConnection(inv.request).then(
      () => "confirmed",
      (error: unknown) => error,
    );
    expect(await waitFor(async () => (await suite.tables.waitingOn(rows[0].pid)) === 1)).toBe(true);
    await other.query("COMMIT");
    expect(await confirming).toMatchObject({
      code: Code.AlreadyExists,
      rawMessage: expect.stringMatching(/already used/),
    });
  } finally {
    other.release();
  }
  // The invite is still unused and no connection was made; only the other confirm's pairID is new.
  const ids = (snapshot: { used_pair_ids: Array<{ pair_id: string }> }, ...more: string[]) => ({
    ...snapshot,
    used_pair_ids: [...snapshot.used_pair_ids.map((row) => row.pair_id), ...more].sort(),
  });
  expect(ids(JSON.parse(await stableSnapshot()))).toEqual(ids(JSON.parse(before), inv.recipient));
});

test("a pairID is never accepted twice, not even after its connection is broken (AlreadyExists)", async () => {
  const a = newAccount();
  const b = newAccount();
  const inv = await invite(a);
  // A second invite sharing A's pairID, made before the first is confirmed.
  const later = newPairId();
  const second = await a.client.initiateConnection({
    senderPairId: inv.sender,
    recipientPairId: later,
    accountSignature: a.account.signInitiate(inv.sender, later),
    ...bindTo(later),
  });
  await b.client.confirmConnection(inv.request);

  await expectRefusal(
    b.client.confirmConnection({
      senderPairId: inv.sender,
      recipientPairId: later,
      serverSignature: second.serverSignature,
      ...recipientProof(inv.sender, later),
    }),
    Code.AlreadyExists,
    /already used/,
  );
  const fresh = newPairId();
  await expectRefusal(
    a.client.initiateConnection({
      senderPairId: inv.sender,
      recipientPairId: fresh,
      accountSignature: a.account.signInitiate(inv.sender, fresh),
      ...bindTo(fresh),
    }),
    Code.AlreadyExists,
  );
  await expectRefusal(
    b.client.initiateConnection({
      senderPairId: fresh,
      recipientPairId: inv.recipient,
      accountSignature: b.account.signInitiate(fresh, inv.recipient),
      ...bindTo(inv.recipient),
    }),
    Code.AlreadyExists,
  );

  await b.client.breakConnection({ pairId: inv.recipient });
  await expectRefusal(
    a.client.initiateConnection({
      senderPairId: inv.sender,
      recipientPairId: fresh,
      accountSignature: a.account.signInitiate(inv.sender, fresh),
      ...bindTo(fresh),
    }),
    Code.AlreadyExists,
  );
  await expectRefusal(
    a.client.initiateConnection({
      senderPairId: fresh,
      recipientPairId: inv.recipient,
      accountSignature: a.account.signInitiate(fresh, inv.recipient),
      ...bindTo(inv.recipient),
    }),
    Code.AlreadyExists,
  );
});

test("refuses malformed pairIDs with InvalidArgument on every RPC", async () => {
  const a = newAccount();
  const good = newPairId();
  const malformed = [
    "",
    good.slice(1),
    `${good}x`,
    `${good.slice(1)}-`,
    `${good.slice(1)}é`,
    `${good.slice(2)}\n`,
    `${good.slice(1)} `,
  ];
  for (const bad of malformed) {
    await expectRefusal(
      a.client.initiateConnection({ senderPairId: bad, recipientPairId: good, accountSignature: new Uint8Array(64) }),
      Code.InvalidArgument,
      /sender_pair_id/,
    );
    await expectRefusal(
      a.client.initiateConnection({ senderPairId: good, recipientPairId: bad, accountSignature: new Uint8Array(64) }),
      Code.InvalidArgument,
      /recipient_pair_id/,
    );
    // Every other field well-formed, so only the pairID check can refuse it as InvalidArgument.
    const wellFormed = {
      serverSignature: new Uint8Array(64),
      recipientSigningPublicKey: new Uint8Array(32),
      recipientSignature: new Uint8Array(64),
    };
    await expectRefusal(
      a.client.confirmConnection({ senderPairId: bad, recipientPairId: good, ...wellFormed }),
      Code.InvalidArgument,
      /sender_pair_id/,
    );
    await expectRefusal(
      a.client.confirmConnection({ senderPairId: good, recipientPairId: bad, ...wellFormed }),
      Code.InvalidArgument,
      /recipient_pair_id/,
    );
    await expectRefusal(a.client.breakConnection({ pairId: bad }), Code.InvalidArgument, /pair_id/);
  }
  await expectRefusal(
    a.client.initiateConnection({
      senderPairId: good,
      recipientPairId: good,
      accountSignature: a.account.signInitiate(good, good),
      ...bindTo(good),
    }),
    Code.InvalidArgument,
    /differ/,
  );
  await expectRefusal(
    a.client.confirmConnection({
      senderPairId: good,
      recipientPairId: good,
      serverSignature: new Uint8Array(64),
      recipientSigningPublicKey: new Uint8Array(32),
      recipientSignature: new Uint8Array(64),
    }),
    Code.InvalidArgument,
    /differ/,
  );
  await expectRefusal(
    a.client.initiateConnection({
      senderPairId: good,
      recipientPairId: newPairId(),
      accountSignature: new Uint8Array(64),
      recipientSigningPublicKey: new Uint8Array(32),
      packetLife: { seconds: 0n, nanos: 0 },
    }),
    Code.InvalidArgument,
    /packet_life/,
  );
});

test("refuses an unauthenticated caller on every RPC with Unauthenticated", async () => {
  const anonymous = as(undefined);
  const s = newPairId();
  const r = newPairId();
  await expectRefusal(
    anonymous.initiateConnection({ senderPairId: s, recipientPairId: r, accountSignature: new Uint8Array(64) }),
    Code.Unauthenticated,
  );
  await expectRefusal(
    anonymous.confirmConnection({ senderPairId: s, recipientPairId: r, serverSignature: new Uint8Array(64) }),
    Code.Unauthenticated,
  );
  await expectRefusal(anonymous.breakConnection({ pairId: s }), Code.Unauthenticated);
  await expectRefusal(anonymous.listConnections({}), Code.Unauthenticated);
});

test("two concurrent confirms of one invite make exactly one connection", async () => {
  for (let round = 0; round < 5; round++) {
    const a = newAccount();
    const b = newAccount();
    const c = newAccount();
    const inv = await invite(a);
    const { request } = inv;
    const results = await Promise.allSettled([
      b.client.confirmConnection(request),
      c.client.confirmConnection(request),
    ]);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0].reason).toMatchObject({ code: Code.FailedPrecondition, rawMessage: "this invite was already used" });
    const rows = (await suite.tables.rows("connections")).filter((row) => row.initiator_pair_id === inv.sender);
    expect(rows).toHaveLength(1);
  }
});

test("two concurrent initiates of one pair by different accounts make one invite", async () => {
  const a = newAccount();
  const e = newAccount();
  const s = newPairId();
  const r = newPairId();
  const results = await Promise.allSettled(
    [a, e].map((x) =>
      x.client.initiateConnection({
        senderPairId: s,
        recipientPairId: r,
        accountSignature: x.account.signInitiate(s, r),
        ...bindTo(r),
      }),
    ),
  );
  expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(1);
  expect(results.find((x): x is PromiseRejectedResult => x.status === "rejected")!.reason).toMatchObject({
    code: Code.AlreadyExists,
  });
  expect((await suite.tables.rows("invites")).filter((row) => row.sender_pair_id === s)).toHaveLength(1);
});

test("break: either side by its own pairID; others get NotFound; the peer is notified by event", async () => {
  const a = newAccount();
  const b = newAccount();
  const stranger = newAccount();
  const inv = await invite(a);
  await b.client.confirmConnection(inv.request);

  // Someone else's pairID and the peer's pairID look exactly like a missing one.
  await expectRefusal(stranger.client.breakConnection({ pairId: inv.sender }), Code.NotFound, /no connection of yours/);
  await expectRefusal(b.client.breakConnection({ pairId: inv.sender }), Code.NotFound, /no connection of yours/);
  await expectRefusal(b.client.breakConnection({ pairId: newPairId() }), Code.NotFound, /no connection of yours/);

  const seen = watcher.broken.items.length;
  const { breakTime } = await a.client.breakConnection({ pairId: inv.sender });
  expect(Number(breakTime!.seconds)).toBe(Math.floor(clock.now().getTime() / 1000));
  const broken = (await watcher.broken.take(seen + 1)).slice(seen);
  expect(broken).toEqual([
    expect.objectContaining({ by: a.account.id, reason: 1, pairIds: [inv.sender, inv.recipient] }),
  ]);
  expect((await b.client.listConnections({})).connections).toEqual([]);
  await expectRefusal(a.client.breakConnection({ pairId: inv.sender }), Code.NotFound);
});

test("a packet life with a fraction of a second is rounded up to whole seconds", async () => {
  const a = newAccount();
  const b = newAccount();
  const lives = [
    { life: { seconds: 3599n, nanos: 500_000_000 }, expected: 3600n },
    { life: { seconds: 0n, nanos: 1 }, expected: 1n },
  ];
  for (const { life, expected } of lives) {
    const s = newPairId();
    const r = newPairId();
    const { serverSignature } = await a.client.initiateConnection({
      senderPairId: s,
      recipientPairId: r,
      accountSignature: a.account.signInitiate(s, r),
      ...bindTo(r),
      packetLife: life,
    });
    const confirmed = await b.client.confirmConnection({
      senderPairId: s,
      recipientPairId: r,
      serverSignature,
      ...recipientProof(s, r),
    });
    expect(confirmed.connection!.packetLife!.seconds).toBe(expected);
  }
});

test("list: newest first, packet life as asked (capped at 7 days), rekey due after 90 days", async () => {
  const a = newAccount();
  const b = newAccount();
  const lives = [
    { seconds: 3600n, nanos: 0 },
    { seconds: 30n * 24n * 3600n, nanos: 0 },
  ];
  for (const packetLife of lives) {
    const s = newPairId();
    const r = newPairId();
    const { serverSignature } = await a.client.initiateConnection({
      senderPairId: s,
      recipientPairId: r,
      accountSignature: a.account.signInitiate(s, r),
      ...bindTo(r),
      packetLife,
    });
    await b.client.confirmConnection({ senderPairId: s, recipientPairId: r, serverSignature, ...recipientProof(s, r) });
    clock.advance(1000);
  }
  const listed = (await a.client.listConnections({})).connections;
  expect(listed.map((c) => c.packetLife!.seconds)).toEqual([BigInt(7 * 24 * 3600), 3600n]);
  expect(listed.every((c) => !c.rekeyDue)).toBe(true);
  // The older connection is now just past 90 days, the newer one just short of it.
  clock.advance(90 * 24 * 3600 * 1000 - 1500);
  const later = (await a.client.listConnections({})).connections;
  expect(later.map((c) => c.rekeyDue)).toEqual([false, true]);
});

test("confirming one invite leaves the initiator's other pending invites open: each is claimed alone", async () => {
  const a = newAccount();
  const b = newAccount();
  const c = newAccount();
  const toB = await invite(a);
  const toC = await invite(a);
  expect((await b.client.confirmConnection(toB.request)).status).toBe(ConfirmStatus.CONFIRMED);
  expect((await c.client.confirmConnection(toC.request)).status).toBe(ConfirmStatus.CONFIRMED);
  const used = await suite.tables.rows("invites");
  expect(used.filter((row) => [toB.sender, toC.sender].includes(row.sender_pair_id)).every((row) => row.used_at)).toBe(
    true,
  );
});
