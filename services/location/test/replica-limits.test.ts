import { Code, ConnectError } from "@connectrpc/connect";
import { LocationService } from "@seeme/contracts/location";
import { CALLER_HEADER, signCaller } from "@seeme/runtime/caller";
import { createGrpcClient } from "@seeme/runtime/grpc";
import { loadConfig } from "../src/config.js";
import { startLocationService, type RunningLocationService } from "../src/service.js";
import { blob, newConnection, SECRET, silent, startHarness, waitUntil, type Harness } from "./helpers.js";

// Two relay replicas on one schema and one NATS prefix: the limits are the system's, not each replica's.
const BURST = 30;
let h: Harness;
let second: RunningLocationService;
const clients: Array<{ close(): void }> = [];

beforeAll(async () => {
  h = await startHarness("location-replica-limits", {
    MAX_PACKETS_PER_SYNC: "10",
    SENDER_PACKET_BURST: String(BURST),
    SENDER_PACKETS_PER_SECOND: "1",
    RECIPIENT_PACKET_BURST: "1000",
    SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT: "2",
  });
  second = await startLocationService(loadConfig({ ...h.env, LOCATION_PORT: "0" }), { now: h.clock.now, log: silent });
});
afterAll(async () => {
  for (const client of clients) client.close();
  await second.stop();
  await h.stop();
});

function onReplica(port: number, accountId: string) {
  const client = createGrpcClient(LocationService, `127.0.0.1:${port}`, {
    headers: () => ({ [CALLER_HEADER]: signCaller(SECRET, accountId) }),
  });
  clients.push(client);
  return client;
}

describe("limits shared by two location replicas", () => {
  it("lets one sender through both replicas send no more than one burst (plus the refill while it ran)", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const replicas = [onReplica(h.location.port, pair.a), onReplica(second.port, pair.a)];
    const started = Date.now();
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 2 * BURST; i++) {
      try {
        await replicas[i % 2].sync({ data: [{ pairId: pair.bPair, packetId: i + 1, blob: blob(`p${i}`) }] });
        accepted++;
      } catch (error) {
        expect(ConnectError.from(error).code).toBe(Code.ResourceExhausted);
        refused++;
      }
    }
    const refill = Math.ceil((Date.now() - started) / 1000);
    // Per-replica buckets would have accepted all 2 × BURST.
    expect(accepted).toBeGreaterThanOrEqual(BURST);
    expect(accepted).toBeLessThanOrEqual(BURST + refill);
    expect(refused).toBe(2 * BURST - accepted);
  });

  it("caps an account's live streams across both replicas, and frees the slot when one ends", async () => {
    const account = newConnection().a;
    const [one, two] = [onReplica(h.location.port, account), onReplica(second.port, account)];
    const openStream = (client: typeof one) => {
      const abort = new AbortController();
      const iterator = client.subscribe({}, { signal: abort.signal })[Symbol.asyncIterator]();
      return { first: iterator.next(), abort };
    };
    const a = openStream(one);
    const b = openStream(two);
    expect((await a.first).value).toMatchObject({ event: { case: "caughtUp" } });
    expect((await b.first).value).toMatchObject({ event: { case: "caughtUp" } });
    // Each replica holds one stream: a per-replica cap of 2 would allow this third one on either.
    for (const client of [one, two]) {
      const third = openStream(client);
      await expect(third.first).rejects.toMatchObject({ code: Code.ResourceExhausted });
      third.abort.abort();
    }
    a.abort.abort();
    await waitUntil(async () => {
      const next = openStream(two);
      try {
        await next.first;
        next.abort.abort();
        return true;
      } catch {
        next.abort.abort();
        return false;
      }
    }, 3000);
    b.abort.abort();
  });
});
