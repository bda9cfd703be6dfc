import { MemoryStorage, SeeMeClient, type InboxMessage } from "@seeme/client";
import { pair, syncUntil } from "../e2e/helpers.js";
import { startCluster, type Cluster, type Service } from "./cluster.js";

/**
 * Issue 17 item 3: steady load through both gateways while one NATS node, then
 * one location replica, then one gateway are killed with SIGKILL (and restarted,
 * as Kubernetes would). Every caller round-robins over both replicas, as through
 * the headless Services. Counts acknowledged packets lost, duplicates the
 * application sees, and confirm events applied more than once; times recovery.
 */
let cluster: Cluster;
const devices: SeeMeClient[] = [];
const SENDERS = 4;
const SEND_EVERY_MS = 150;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  const started = Date.now();
  cluster = await startCluster("cluster_loss", { routing: "all" });
  figures.clusterStartMs = Date.now() - started;
}, 180_000);
afterAll(async () => {
  for (const device of devices) device.close();
  await cluster?.stop();
  console.log(`node-loss figures ${JSON.stringify(figures, null, 1)}`);
}, 60_000);

async function device(gateway: number): Promise<SeeMeClient> {
  const client = new SeeMeClient({
    storage: new MemoryStorage(),
    gatewayUrl: cluster.gatewayUrl(gateway),
    retry: { baseDelayMs: 50 },
  });
  devices.push(client);
  await client.register();
  return client;
}

const confirmNotices = (inbox: InboxMessage[]) =>
  inbox.filter((m) => m.kind === "server" && m.type === 5 && m.subType === 3).length;

interface Lane {
  sender: SeeMeClient;
  recipient: SeeMeClient;
  gateway: number;
  acked: Set<string>;
  queued: number;
  failures: number;
  /** Time of each sync that succeeded. */
  successes: number[];
}

test("kill -9 of a NATS node, a location replica, a gateway under load: no acked packet lost or repeated", async () => {
  // Senders alternate between the gateways; each one's peer is on the other gateway.
  const lanes: Lane[] = [];
  for (let i = 0; i < SENDERS; i++) {
    const gateway = i % 2;
    const sender = await device(gateway);
    const recipient = await device(1 - gateway);
    await pair(sender, recipient);
    await syncUntil(sender, (inbox) => confirmNotices(inbox) === 1);
    lanes.push({ sender, recipient, gateway, acked: new Set(), queued: 0, failures: 0, successes: [] });
  }

  let running = true;
  const load = lanes.map(async (lane, index) => {
    let n = 0;
    while (running) {
      const text = `lane${index}-${n++}`;
      await lane.sender.sendText(text, { sync: false });
      lane.queued++;
      try {
        await lane.sender.sync();
        // Everything queued so far was stored by the relay (the outbox is far below a Sync's limit).
        for (let k = lane.acked.size; k < n; k++) lane.acked.add(`lane${index}-${k}`);
        lane.successes.push(Date.now());
      } catch {
        lane.failures++;
      }
      await new Promise((resolve) => setTimeout(resolve, SEND_EVERY_MS));
    }
  });
  const receiving = lanes.map(async (lane) => {
    while (running) {
      await lane.recipient.sync().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  /** Time from `since` until every lane (or those on `gateways`) has had a successful Sync after it. */
  const recovered = async (since: number, gateways = [0, 1]) => {
    const ok = await waitFor(
      () => lanes.filter((l) => gateways.includes(l.gateway)).every((l) => l.successes.some((t) => t > since)),
      60_000,
    );
    if (!ok) throw new Error("lanes did not recover within 60 s");
    const firsts = lanes.filter((l) => gateways.includes(l.gateway)).map((l) => l.successes.find((t) => t > since)!);
    return Math.max(...firsts) - since;
  };
  /** A new connection made while a node is down: its confirm event must reach exactly one location replica once. */
  const pairDuring = async () => {
    const [a, b] = [await device(1), await device(1)];
    const since = Date.now();
    await pair(a, b);
    await syncUntil(a, (inbox) => confirmNotices(inbox) >= 1, 90_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await a.sync();
    return { notices: confirmNotices(await a.inbox()), pairedAndNotifiedMs: Date.now() - since };
  };
  const failuresNow = () => lanes.reduce((sum, lane) => sum + lane.failures, 0);

  await new Promise((resolve) => setTimeout(resolve, 3000));

  // 1. One NATS node (the seed of replica 0's processes).
  let failed = failuresNow();
  let killedAt = Date.now();
  cluster.killNats(0);
  const natsEvents = await pairDuring();
  figures.natsNode = { ...natsEvents, loadRecoveredMs: await recovered(killedAt), failedSyncs: failuresNow() - failed };
  await cluster.startNats(0);

  // 2. One location replica.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  failed = failuresNow();
  killedAt = Date.now();
  cluster.kill("location", 0);
  const locationEvents = await pairDuring();
  figures.locationReplica = {
    ...locationEvents,
    loadRecoveredMs: await recovered(killedAt),
    failedSyncs: failuresNow() - failed,
  };
  await restart("location", 0, figures.locationReplica as Record<string, unknown>);

  // 3. One gateway: its devices have no other address (no load balancer here), so they recover when it restarts.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  failed = failuresNow();
  killedAt = Date.now();
  cluster.kill("gateway", 0);
  const otherGateway = await recovered(killedAt, [1]);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await restart("gateway", 0, (figures.gateway = { otherGatewayUnaffectedMs: otherGateway }));
  (figures.gateway as Record<string, unknown>).loadRecoveredMs = await recovered(killedAt);
  (figures.gateway as Record<string, unknown>).failedSyncs = failuresNow() - failed;

  await new Promise((resolve) => setTimeout(resolve, 2000));
  running = false;
  await Promise.all([...load, ...receiving]);
  // Everything still queued goes out now that every node is back.
  for (const lane of lanes) await lane.sender.sync();

  // Every acknowledged packet arrives, once.
  let lost = 0;
  let duplicates = 0;
  let acked = 0;
  for (const lane of lanes) {
    acked += lane.acked.size;
    const texts = async () => (await lane.recipient.inbox()).flatMap((m) => (m.kind === "text" ? [m.message] : []));
    await waitFor(
      async () => {
        await lane.recipient.sync();
        const seen = new Set(await texts());
        return [...lane.acked].every((text) => seen.has(text));
      },
      30_000,
      200,
    );
    const received = await texts();
    const seen = new Set(received);
    lost += [...lane.acked].filter((text) => !seen.has(text)).length;
    duplicates += received.length - seen.size;
  }
  Object.assign(figures, {
    ackedPackets: acked,
    lost,
    duplicates,
    sent: lanes.reduce((sum, lane) => sum + lane.queued, 0),
  });
  expect({ lost, duplicates }).toEqual({ lost: 0, duplicates: 0 });
  expect([natsEvents.notices, locationEvents.notices]).toEqual([1, 1]);
  expect(acked).toBeGreaterThan(50);
}, 300_000);

async function restart(service: Service, replica: number, into: Record<string, unknown>): Promise<void> {
  const since = Date.now();
  await cluster.start(service, replica);
  into.restartToServingMs = Date.now() - since;
}

async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return false;
}
