import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { bindTo, recipientProof } from "@seeme/testkit/pairing";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { createTestDatabase, type TestDatabase } from "@seeme/testkit/database";
import { waitFor } from "@seeme/testkit/health";
import { createTestBus, type TestBus } from "@seeme/testkit/nats";
import { startConnectionService } from "../src/service.js";
import { createSigner } from "../src/signing-key.js";
import { invitePayload } from "@seeme/contracts/protocol";
import {
  clientAs,
  eventWatcher,
  newPairId,
  registerAccount,
  silent,
  startFakeIdentity,
  tableReader,
  testConfig,
} from "./helpers.js";

let db: TestDatabase;
let bus: TestBus;
let identity: Awaited<ReturnType<typeof startFakeIdentity>>;
let tables: ReturnType<typeof tableReader>;
let keyDir: string;

beforeAll(async () => {
  db = await createTestDatabase("connection_lifecycle");
  bus = createTestBus("conn_lifecycle");
  identity = await startFakeIdentity();
  tables = tableReader(db);
  keyDir = await mkdtemp(join(tmpdir(), "seeme-connection-"));
});

afterAll(async () => {
  await tables.close();
  await identity.stop();
  await db.drop();
  await bus.cleanup();
  await rm(keyDir, { recursive: true, force: true });
});

test("a service stopped between the commit and the publish loses no event: the next start publishes it exactly once", async () => {
  const watcher = await eventWatcher(bus, "restart-test");
  const a = registerAccount(identity);
  const b = registerAccount(identity);
  const sender = newPairId();
  const recipient = newPairId();

  // First process: commits the confirm (and its outbox row) but stops before publishing.
  const first = await startConnectionService(testConfig(db, bus, identity.address), { log: silent, holdEvents: true });
  const aClient = clientAs(`127.0.0.1:${first.port}`, a.id);
  const bClient = clientAs(`127.0.0.1:${first.port}`, b.id);
  const { serverSignature } = await aClient.initiateConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature: a.signInitiate(sender, recipient),
    ...bindTo(recipient),
  });
  await bClient.confirmConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    serverSignature,
    ...recipientProof(sender, recipient),
  });
  aClient.close();
  bClient.close();
  await first.stop();
  expect(await tables.rows("outbox_events")).toEqual([expect.objectContaining({ event: "connectionConfirmed" })]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(watcher.confirmed.items).toEqual([]);

  // Second process: the relay finds the committed row and publishes it.
  const second = await startConnectionService(testConfig(db, bus, identity.address), { log: silent });
  const [event] = await watcher.confirmed.take(1);
  expect(event).toMatchObject({
    initiator: a.id,
    recipient: b.id,
    initiatorPairId: sender,
    recipientPairId: recipient,
  });
  expect(await waitFor(async () => (await tables.count("outbox_events")) === 0)).toBe(true);
  await second.stop();

  // A third start has nothing left to send, and nothing arrived twice.
  const third = await startConnectionService(testConfig(db, bus, identity.address), { log: silent });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await third.stop();
  expect(watcher.confirmed.items).toHaveLength(1);
  await watcher.close();
});

test("identity unreachable: initiate answers Unavailable and writes nothing", async () => {
  const service = await startConnectionService(testConfig(db, bus, "127.0.0.1:1"), { log: silent });
  const a = registerAccount(identity);
  const client = clientAs(`127.0.0.1:${service.port}`, a.id);
  const s = newPairId();
  const r = newPairId();
  const before = await tables.snapshot();
  await expect(
    client.initiateConnection({
      senderPairId: s,
      recipientPairId: r,
      accountSignature: a.signInitiate(s, r),
      ...bindTo(r),
    }),
  ).rejects.toMatchObject({ code: Code.Unavailable });
  expect(await tables.snapshot()).toBe(before);
  client.close();
  await service.stop();
});

test("development: without SERVER_SIGNING_KEY a key is generated once into the key file and reused across restarts", async () => {
  const keyFile = join(keyDir, "nested", "server-signing-key");
  const config = () =>
    testConfig(db, bus, identity.address, { SERVER_SIGNING_KEY: "", SERVER_SIGNING_KEY_FILE: keyFile });
  const a = registerAccount(identity);
  const s = newPairId();
  const r = newPairId();

  const first = await startConnectionService(config(), { log: silent });
  const client = clientAs(`127.0.0.1:${first.port}`, a.id);
  const { serverSignature } = await client.initiateConnection({
    senderPairId: s,
    recipientPairId: r,
    accountSignature: a.signInitiate(s, r),
    ...bindTo(r),
  });
  client.close();
  await first.stop();
  const seed = Buffer.from((await readFile(keyFile, "utf8")).trim(), "base64");
  expect(seed).toHaveLength(32);
  expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
  expect(createSigner(seed).verify(invitePayload(s, r, bindTo(r).recipientSigningPublicKey), serverSignature)).toBe(
    true,
  );

  // After a restart the invite signed before it is still accepted.
  const second = await startConnectionService(config(), { log: silent });
  const b = registerAccount(identity);
  const bClient = clientAs(`127.0.0.1:${second.port}`, b.id);
  await expect(
    bClient.confirmConnection({ senderPairId: s, recipientPairId: r, serverSignature, ...recipientProof(s, r) }),
  ).resolves.toMatchObject({ status: 1 });
  bClient.close();
  await second.stop();
  expect(Buffer.from((await readFile(keyFile, "utf8")).trim(), "base64")).toEqual(seed);
});
