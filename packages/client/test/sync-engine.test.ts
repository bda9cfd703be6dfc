import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { IncomingPacketSchema, LocationService, SyncTarget, type SyncRequest } from "@seeme/contracts/location";
import { FileStorage } from "../src/file-storage.js";
import { Emitter } from "../src/events.js";
import type { ClientEvents } from "../src/client-events.js";
import { encodeLocation } from "../src/codec-location.js";
import { toBase64 } from "../src/connection-state.js";
import { seal } from "../src/envelope.js";
import { connectionPublicKeys, exportConnectionSecretKeys, generateConnectionKeyPairs } from "../src/keys.js";
import { encodeInner } from "../src/inner-packet.js";
import { queuePayloads } from "../src/outgoing.js";
import { newPairId } from "../src/pair-id.js";
import { ReplayGuard } from "../src/replay-guard.js";
import { MemoryStorage, emptyState, type DeviceStorage, type StoredConnection } from "../src/storage.js";
import { SyncEngine } from "../src/sync-engine.js";

/** The sync engine against an in-memory LocationService: batching, idempotent resends, backoff, ack-after-persist. */

const mine = generateConnectionKeyPairs();
const theirs = generateConnectionKeyPairs();
const myPairId = newPairId();
const theirPairId = newPairId();
const LOCATION = encodeLocation({ movement: 3, sharing: true, latitude: 1.5, longitude: 2.5, speedKmh: 3 });

function connection(): StoredConnection {
  const secrets = exportConnectionSecretKeys(mine);
  const peer = connectionPublicKeys(theirs);
  return {
    pairId: myPairId,
    peerPairId: theirPairId,
    label: "peer",
    role: "initiator",
    status: "active",
    signingSecretKey: toBase64(secrets.signingSecretKey),
    encryptionSecretKey: toBase64(secrets.encryptionSecretKey),
    peerSigningPublicKey: toBase64(peer.signingPublicKey),
    peerEncryptionPublicKey: toBase64(peer.encryptionPublicKey),
    lastPacketId: 0,
    replay: new ReplayGuard().snapshot(),
    peerSharing: true,
    createdAt: new Date(0).toISOString(),
  };
}

async function fromPeer(packetId: number) {
  const blob = await seal({
    senderKeys: theirs,
    recipientPublicKeys: connectionPublicKeys(mine),
    senderPairId: theirPairId,
    recipientPairId: myPairId,
    packetId,
    plaintext: encodeInner(LOCATION),
  });
  return create(IncomingPacketSchema, { pairId: myPairId, packetId, blob });
}

/** A relay that records requests; `respond` decides each answer (or throws). */
function relay(
  respond: (request: SyncRequest, call: number) => { data?: Awaited<ReturnType<typeof fromPeer>>[] } | Error,
) {
  const requests: SyncRequest[] = [];
  const transport = createRouterTransport((router) =>
    router.service(LocationService, {
      async sync(request) {
        requests.push(request);
        const answer = respond(request, requests.length);
        if (answer instanceof Error) throw answer;
        const byPair = new Map<string, number[]>();
        for (const packet of request.data)
          byPair.set(packet.pairId, [...(byPair.get(packet.pairId) ?? []), packet.packetId]);
        return {
          syncMeta: [...byPair].map(([pairId, receivedPackets]) => ({
            target: SyncTarget.SENDER,
            pairId,
            receivedPackets,
          })),
          data: answer.data ?? [],
        };
      },
      async *subscribe() {},
    }),
  );
  return { requests, location: createClient(LocationService, transport) };
}

function engine(storage: DeviceStorage, location: ReturnType<typeof relay>["location"], maxPacketsPerSync = 500) {
  return new SyncEngine({
    storage,
    location,
    limits: async () => ({ maxBlobBytes: 4096, maxPacketsPerSync }),
    now: () => new Date(),
    retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 },
    events: new Emitter<ClientEvents>(),
    reauthenticate: async () => undefined,
    reconcile: async () => undefined,
  });
}

async function withQueued(count: number): Promise<MemoryStorage> {
  const storage = new MemoryStorage({ ...emptyState(), connections: [connection()] });
  await queuePayloads(
    storage,
    (await storage.read()).connections[0].pairId,
    Array(count).fill(LOCATION),
    4096,
    new Date(),
  );
  return storage;
}

test("outgoing packets go in batches within the server's limit, and leave the outbox once stored", async () => {
  const storage = await withQueued(7);
  const server = relay(() => ({}));
  const report = await engine(storage, server.location, 3).sync();
  expect(server.requests.map((r) => r.data.map((p) => p.packetId))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  expect(report).toMatchObject({ sent: 7, rounds: 3 });
  expect((await storage.read()).outbox).toEqual([]);
});

test("a transient failure is retried with the very same packetIDs and blobs (idempotent on the server)", async () => {
  const storage = await withQueued(2);
  const server = relay((_, call) =>
    call < 3 ? new ConnectError("down", call === 1 ? Code.Unavailable : Code.ResourceExhausted) : {},
  );
  await engine(storage, server.location).sync();
  expect(server.requests).toHaveLength(3);
  const [first, , last] = server.requests;
  expect(last.data.map((p) => [p.packetId, toBase64(p.blob)])).toEqual(
    first.data.map((p) => [p.packetId, toBase64(p.blob)]),
  );
});

test("a permanent failure is not retried and keeps the packets queued", async () => {
  const storage = await withQueued(1);
  const server = relay(() => new ConnectError("bad", Code.InvalidArgument));
  await expect(engine(storage, server.location).sync()).rejects.toMatchObject({ code: Code.InvalidArgument });
  expect(server.requests).toHaveLength(1);
  expect((await storage.read()).outbox).toHaveLength(1);
});

test("received packets are acknowledged only after they are persisted", async () => {
  const failing = new MemoryStorage({ ...emptyState(), connections: [connection()] });
  const original = failing.update.bind(failing);
  let failPersist = true;
  failing.update = (change) =>
    original((state) => {
      const result = change(state);
      if (failPersist && state.inbox.length > 0) throw new Error("disk full");
      return result;
    });
  const first = await fromPeer(1);
  const server = relay((_, call) => ({ data: call === 1 ? [first] : [] }));
  await expect(engine(failing, server.location).sync()).rejects.toThrow("disk full");
  expect(server.requests).toHaveLength(1);
  expect((await failing.read()).acks).toEqual({});

  failPersist = false;
  const retry = relay((_, call) => ({ data: call === 1 ? [first] : [] }));
  const report = await engine(failing, retry.location).sync();
  expect(report.received).toBe(1);
  expect(retry.requests[0].lastPacketsReceived).toEqual([]);
  expect(retry.requests[1].lastPacketsReceived.map((r) => [r.pairId, r.packetIds])).toEqual([[myPairId, [1]]]);
  expect((await failing.read()).inbox).toMatchObject([{ kind: "location", packetId: 1, latitude: 1.5 }]);
});

test("FileStorage writes atomically, privately, and keeps the old state when a change throws", async () => {
  const home = await mkdtemp(join(tmpdir(), "see-me-storage-"));
  try {
    const storage = FileStorage.inHome(home);
    await storage.update((state) => {
      state.sharing = false;
    });
    await expect(
      storage.update((state) => {
        state.sharing = true;
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect((await FileStorage.inHome(home).read()).sharing).toBe(false);
    expect(JSON.parse(await readFile(join(home, "state.json"), "utf8")).sharing).toBe(false);
    expect((await stat(join(home, "state.json"))).mode & 0o777).toBe(0o600);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

test("while the Subscribe stream is caught up, Syncs skip the inbox; the first after a (re)connect still fetches", async () => {
  const storage = new MemoryStorage({ ...emptyState(), connections: [connection()] });
  const requests: SyncRequest[] = [];
  let push: ((packetId: number) => void) | undefined;
  const transport = createRouterTransport((router) =>
    router.service(LocationService, {
      async sync(request) {
        requests.push(request);
        return { syncMeta: [], data: [] };
      },
      async *subscribe(_request, ctx) {
        yield { event: { case: "caughtUp", value: true } };
        const pushed: number[] = [];
        let wake: (() => void) | undefined;
        push = (packetId) => (pushed.push(packetId), wake?.());
        while (!ctx.signal.aborted) {
          await new Promise<void>((resolve) => (wake = resolve));
          for (const packetId of pushed.splice(0)) yield { event: { case: "packet", value: await fromPeer(packetId) } };
        }
      },
    }),
  );
  const sync = engine(storage, createClient(LocationService, transport));
  const live = sync.startLive();
  await live.caughtUp;
  const settled = async (count: number) => {
    for (let i = 0; i < 200 && requests.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  await settled(1);
  push!(1);
  await settled(2);
  await live.stop();
  // The Sync scheduled by caught_up fetches; the one acknowledging the pushed packet does not.
  expect(requests.map((r) => r.skipIncoming)).toEqual([false, true]);
  expect(requests[1].lastPacketsReceived).toEqual([expect.objectContaining({ pairId: myPairId, packetIds: [1] })]);
});

test("receipts are acknowledged by the next Sync and reported to the app once, though the relay reports one again", async () => {
  // A relay that reports receipts until acknowledged; it drops the first acknowledgement (say, its answer was lost).
  const waiting = new Set([5]);
  const requests: SyncRequest[] = [];
  const transport = createRouterTransport((router) =>
    router.service(LocationService, {
      async sync(request) {
        requests.push(request);
        if (requests.length === 2) waiting.add(6);
        if (requests.length === 3)
          for (const id of request.receiptsSeen.flatMap((r) => r.packetIds)) waiting.delete(id);
        const delivered = [...waiting].sort((a, b) => a - b);
        return {
          syncMeta:
            delivered.length > 0
              ? [{ target: SyncTarget.SENDER, pairId: theirPairId, deliveredPackets: delivered }]
              : [],
        };
      },
      async *subscribe() {},
    }),
  );
  const storage = new MemoryStorage({ ...emptyState(), connections: [connection()] });
  const sync = engine(storage, createClient(LocationService, transport));
  const events = (sync as unknown as { deps: { events: Emitter<ClientEvents> } }).deps.events;
  const delivered: number[][] = [];
  events.on("delivered", (event) => delivered.push(event.packetIds));

  for (let round = 0; round < 4; round++) await sync.sync();
  expect(requests.map((r) => r.receiptsSeen.flatMap((seen) => seen.packetIds))).toEqual([[], [5], [5, 6], []]);
  expect(delivered).toEqual([[5], [6]]);
  expect((await storage.read()).receiptsSeen).toEqual({});
});
