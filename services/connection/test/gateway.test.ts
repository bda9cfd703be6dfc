import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { ConfirmStatus, ConnectionService } from "@seeme/contracts/connection";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService, type IncomingPacket } from "@seeme/contracts/location";
import { parseDatabaseUrl } from "@seeme/runtime/db";
import { registerAndSignIn, signPayload, type TestAccount } from "@seeme/testkit/accounts";
import { bindTo, recipientProof } from "@seeme/testkit/pairing";
import { waitFor } from "@seeme/testkit/health";
import { startStack, type Stack } from "../../../test/stack.js";
import { loadConfig } from "../src/config.js";
import { startConnectionService } from "../src/service.js";
import { createSigner } from "../src/signing-key.js";
import { initiatePayload, invitePayload } from "@seeme/contracts/protocol";
import { eventWatcher, newPairId, silent } from "./helpers.js";

/**
 * The "must show" end to end: real gateway, identity, connection and
 * location services, PostgreSQL and NATS, driven like two devices over gRPC.
 */
const SEED = randomBytes(32);
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);
let stack: Stack;
let pool: pg.Pool;
let transport: ReturnType<typeof createGrpcTransport>;
let connections: Client<typeof ConnectionService>;
let location: Client<typeof LocationService>;
let watcher: Awaited<ReturnType<typeof eventWatcher>>;

type Device = TestAccount & { pairId: string };
const auth = (device: Device) => ({ headers: { authorization: `Bearer ${device.sessionToken}` } });

async function device(): Promise<Device> {
  return { ...(await registerAndSignIn(createClient(IdentityService, transport))), pairId: newPairId() };
}

function initiate(a: Device, b: Device, signer: Device = a) {
  return connections.initiateConnection(
    {
      senderPairId: a.pairId,
      recipientPairId: b.pairId,
      accountSignature: signPayload(signer.privateKey, initiatePayload(a.pairId, b.pairId)),
      ...bindTo(b.pairId),
    },
    auth(a),
  );
}

function confirm(as: Device, a: Device, b: Device, serverSignature: Uint8Array) {
  return connections.confirmConnection(
    { senderPairId: a.pairId, recipientPairId: b.pairId, serverSignature, ...recipientProof(a.pairId, b.pairId) },
    auth(as),
  );
}

/** Server messages (type 5 notices) waiting for a device. */
async function notices(who: Device): Promise<IncomingPacket[]> {
  return (await location.sync({}, auth(who))).data.filter((p) => p.pairId === "SERVER");
}

/** Every row of the connection service's tables, once the relay has emptied the outbox. */
async function snapshot(): Promise<string> {
  const count = async () => Number((await pool.query("SELECT count(*) AS n FROM outbox_events")).rows[0].n);
  expect(await waitFor(async () => (await count()) === 0)).toBe(true);
  const tables = ["invites", "connections", "used_pair_ids", "outbox_events"];
  const rows = await Promise.all(tables.map(async (t) => (await pool.query(`SELECT * FROM ${t} ORDER BY 1`)).rows));
  return JSON.stringify(rows);
}

async function refused(call: () => Promise<unknown>, code: Code): Promise<void> {
  const before = await snapshot();
  await expect(call()).rejects.toMatchObject({ code });
  expect(await snapshot()).toBe(before);
}

/** Right after a restart the gateway's channel may still be backing off: retry what was never delivered. */
async function whenReachable<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof ConnectError && error.code === Code.Unavailable) || attempt > 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

beforeAll(async () => {
  // The sweeper stays out of the way: expiry is observed through confirm and re-initiate.
  stack = await startStack("connection-e2e", {
    now,
    env: {
      SERVER_SIGNING_KEY: SEED.toString("base64"),
      INVITE_SWEEP_INTERVAL: "1h",
      // Every device signs up from 127.0.0.1: lift identity's per-address budget.
      IDENTITY_RATE_LIMIT_ADDRESS_BURST: "1000",
    },
  });
  transport = createGrpcTransport({ baseUrl: stack.gatewayUrl });
  connections = createClient(ConnectionService, transport);
  location = createClient(LocationService, transport);
  const target = parseDatabaseUrl(stack.databaseUrls.connection);
  pool = new pg.Pool({ connectionString: target.connectionString, max: 2, options: `-c search_path=${target.schema}` });
  watcher = await eventWatcher(
    { url: stack.natsUrl, prefix: stack.natsPrefix, cleanup: async () => undefined },
    "connection-e2e",
  );
}, 30_000);

afterAll(async () => {
  await watcher?.close();
  await pool?.end();
  await stack?.stop();
});

test("the seed's happy path with two real accounts: initiate, confirm, A's 5/3 notice, packets flow, break and B's 5/5 notice", async () => {
  const A = await device();
  const B = await device();
  const before = now().getTime();
  const { serverSignature, expireTime } = await initiate(A, B);
  expect(
    createSigner(SEED).verify(
      invitePayload(A.pairId, B.pairId, bindTo(B.pairId).recipientSigningPublicKey),
      serverSignature,
    ),
  ).toBe(true);
  const expiresMs = Number(expireTime!.seconds) * 1000 + expireTime!.nanos / 1e6;
  expect(expiresMs).toBeGreaterThanOrEqual(before + 15 * 60_000);
  expect(expiresMs).toBeLessThanOrEqual(now().getTime() + 15 * 60_000);

  const confirmed = await confirm(B, A, B, serverSignature);
  expect(confirmed.status).toBe(ConfirmStatus.CONFIRMED);
  expect(confirmed.connection).toMatchObject({ pairId: B.pairId, peerPairId: A.pairId, rekeyDue: false });
  expect((await connections.listConnections({}, auth(A))).connections).toEqual([
    expect.objectContaining({ pairId: A.pairId, peerPairId: B.pairId }),
  ]);

  // A learns of the confirm from the server (type 5 / sub-type 3, carrying B's pairID).
  let aNotices: IncomingPacket[] = [];
  expect(await waitFor(async () => (aNotices = await notices(A)).length > 0)).toBe(true);
  expect(aNotices).toEqual([expect.objectContaining({ type: 5, subType: 3, text: B.pairId })]);

  // Each side may send only to the other's pairID.
  await location.sync({ data: [{ pairId: B.pairId, packetId: 1, blob: new TextEncoder().encode("hi B") }] }, auth(A));
  await expect(
    location.sync({ data: [{ pairId: A.pairId, packetId: 1, blob: new Uint8Array([1]) }] }, auth(A)),
  ).rejects.toMatchObject({ code: Code.PermissionDenied });
  const forB = (await location.sync({}, auth(B))).data.filter((p) => p.pairId === B.pairId);
  expect(forB.map((p) => new TextDecoder().decode(p.blob))).toEqual(["hi B"]);

  const { breakTime } = await connections.breakConnection({ pairId: A.pairId }, auth(A));
  expect(breakTime).toBeDefined();
  expect((await connections.listConnections({}, auth(B))).connections).toEqual([]);
  expect(await waitFor(async () => (await notices(B)).some((n) => n.type === 5 && n.subType === 5))).toBe(true);
  await expect(
    location.sync({ data: [{ pairId: B.pairId, packetId: 2, blob: new Uint8Array([1]) }] }, auth(A)),
  ).rejects.toMatchObject({ code: Code.PermissionDenied });
});

test("each refusal has its documented status code and changes nothing in the database", async () => {
  const A = await device();
  const B = await device();
  const C = await device();

  // bad account signature: B's key signing for A's call, or A's key over another pair
  await refused(() => initiate(A, B, B), Code.PermissionDenied);
  await refused(
    () =>
      connections.initiateConnection(
        {
          senderPairId: A.pairId,
          recipientPairId: B.pairId,
          accountSignature: signPayload(A.privateKey, initiatePayload(B.pairId, A.pairId)),
          ...bindTo(B.pairId),
        },
        auth(A),
      ),
    Code.PermissionDenied,
  );

  // malformed pairIDs
  for (const bad of ["", A.pairId.slice(1), `${A.pairId}0`, `${A.pairId.slice(1)}_`]) {
    await refused(
      () =>
        connections.initiateConnection(
          { senderPairId: bad, recipientPairId: B.pairId, accountSignature: new Uint8Array(64), ...bindTo(B.pairId) },
          auth(A),
        ),
      Code.InvalidArgument,
    );
    await refused(
      () =>
        connections.confirmConnection(
          { senderPairId: A.pairId, recipientPairId: bad, serverSignature: new Uint8Array(64) },
          auth(B),
        ),
      Code.InvalidArgument,
    );
    await refused(() => connections.breakConnection({ pairId: bad }, auth(A)), Code.InvalidArgument);
  }

  // unauthenticated caller: no token, a made-up token
  const anonymous = { headers: { authorization: `Bearer ${randomBytes(32).toString("base64url")}` } };
  await refused(
    () =>
      connections.initiateConnection({
        senderPairId: A.pairId,
        recipientPairId: B.pairId,
        accountSignature: signPayload(A.privateKey, initiatePayload(A.pairId, B.pairId)),
      }),
    Code.Unauthenticated,
  );
  await refused(() => connections.listConnections({}, anonymous), Code.Unauthenticated);
  await refused(
    () =>
      connections.confirmConnection(
        { senderPairId: A.pairId, recipientPairId: B.pairId, serverSignature: new Uint8Array(64) },
        anonymous,
      ),
    Code.Unauthenticated,
  );

  const { serverSignature } = await initiate(A, B);

  // forged or altered server signature
  const flipped = Uint8Array.from(serverSignature);
  flipped[0] ^= 0x80;
  await refused(() => confirm(B, A, B, flipped), Code.PermissionDenied);
  await refused(
    () =>
      confirm(
        B,
        A,
        B,
        createSigner(randomBytes(32)).sign(
          invitePayload(A.pairId, B.pairId, bindTo(B.pairId).recipientSigningPublicKey),
        ),
      ),
    Code.PermissionDenied,
  );
  await refused(() => confirm(B, A, C, serverSignature), Code.PermissionDenied);

  // self-confirm
  await refused(() => confirm(A, A, B, serverSignature), Code.PermissionDenied);

  await confirm(B, A, B, serverSignature);
  // reused invite
  await refused(() => confirm(C, A, B, serverSignature), Code.FailedPrecondition);
  // pairID already used, also after the connection is broken
  const D = await device();
  await refused(() => initiate({ ...C, pairId: B.pairId }, D, C), Code.AlreadyExists);
  await connections.breakConnection({ pairId: B.pairId }, auth(B));
  await refused(() => initiate(A, D), Code.AlreadyExists);
  // breaking again, or someone else's side: NotFound
  await refused(() => connections.breakConnection({ pairId: B.pairId }, auth(B)), Code.NotFound);

  // expired invite; the initiator hears of it (5/4) when the pair is initiated again
  const E = await device();
  const F = await device();
  const late = await initiate(E, F);
  offsetMs += 15 * 60_000;
  await refused(() => confirm(F, E, F, late.serverSignature), Code.FailedPrecondition);
  await initiate(E, F);
  expect(
    await waitFor(async () => (await notices(E)).some((n) => n.type === 5 && n.subType === 4 && n.text === F.pairId)),
  ).toBe(true);
});

test("two concurrent confirms of one invite through the gateway make exactly one connection", async () => {
  for (let round = 0; round < 3; round++) {
    const [A, B, C] = await Promise.all([device(), device(), device()]);
    const { serverSignature } = await initiate(A, B);
    const results = await Promise.allSettled([confirm(B, A, B, serverSignature), confirm(C, A, B, serverSignature)]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason).toMatchObject({
      code: Code.FailedPrecondition,
    });
    expect(
      Number(
        (await pool.query("SELECT count(*) AS n FROM connections WHERE initiator_pair_id = $1", [A.pairId])).rows[0].n,
      ),
    ).toBe(1);
  }
});

test("a connection service stopped between commit and publish loses nothing: after restart the event goes out once and A gets its notice", async () => {
  const A = await device();
  const B = await device();
  const { serverSignature } = await initiate(A, B);
  const port = stack.address("connection").split(":")[1];

  // Swap in a connection service that commits but never publishes, on the same port.
  await stack.stopService("connection");
  const held = await startConnectionService(
    loadConfig({
      INTERNAL_AUTH_SECRET: stack.internalAuthSecret,
      CONNECTION_DATABASE_URL: stack.databaseUrls.connection,
      NATS_URL: stack.natsUrl,
      NATS_SUBJECT_PREFIX: stack.natsPrefix,
      CONNECTION_PORT: port,
      IDENTITY_ADDR: stack.address("identity"),
      SERVER_SIGNING_KEY: SEED.toString("base64"),
      METRICS_PORT: "0",
    }),
    { now, log: silent, holdEvents: true },
  );
  await whenReachable(() => confirm(B, A, B, serverSignature));
  expect((await pool.query("SELECT event FROM outbox_events")).rows).toEqual([{ event: "connectionConfirmed" }]);
  await held.stop();
  expect(watcher.confirmed.items.filter((e) => e.initiatorPairId === A.pairId)).toEqual([]);
  expect(await notices(A)).toEqual([]);

  await stack.startService("connection");
  expect(await waitFor(async () => (await notices(A)).length > 0)).toBe(true);
  expect(await notices(A)).toEqual([expect.objectContaining({ type: 5, subType: 3, text: B.pairId })]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(watcher.confirmed.items.filter((e) => e.initiatorPairId === A.pairId)).toHaveLength(1);
  expect(await whenReachable(() => connections.listConnections({}, auth(B)))).toMatchObject({
    connections: [{ pairId: B.pairId }],
  });
});

test("the Connect protocol reaches the same service (browser clients)", async () => {
  const web = createClient(
    ConnectionService,
    createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" }),
  );
  const A = await device();
  const B = await device();
  const { serverSignature } = await web.initiateConnection(
    {
      senderPairId: A.pairId,
      recipientPairId: B.pairId,
      accountSignature: signPayload(A.privateKey, initiatePayload(A.pairId, B.pairId)),
      ...bindTo(B.pairId),
    },
    auth(A),
  );
  await expect(
    web.confirmConnection(
      { senderPairId: A.pairId, recipientPairId: B.pairId, serverSignature, ...recipientProof(A.pairId, B.pairId) },
      auth(B),
    ),
  ).resolves.toMatchObject({ status: ConfirmStatus.CONFIRMED });
  await expect(web.listConnections({})).rejects.toMatchObject({ code: Code.Unauthenticated });
});
