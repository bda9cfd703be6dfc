import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryStorage, SeeMeClient, type InboxMessage } from "@seeme/client";
import { allocatorEnv } from "@seeme/runtime/allocator";
import { checkHealth, waitFor } from "@seeme/testkit/health";
import { createStackResources } from "@seeme/testkit/stack";
import { startTcpProxy } from "@seeme/testkit/tcp-proxy";
import { freePort } from "@seeme/testkit/ports";

/**
 * The chaos matrix of issue #16 under load: the four services run as child processes (their
 * compiled dist/main.js), on this chaos stack's own nats-server (never the machine's) and on the
 * machine's PostgreSQL through a TCP proxy that can be cut (the server itself is never stopped).
 * SDK devices in pairs send texts while each service is killed with SIGKILL in turn and started
 * again, NATS is stopped and started, and PostgreSQL is cut and restored. Then everything is
 * drained and counted: what was queued, what the relay acknowledged (stored), what reached the
 * receiving app, duplicates, receipts, and how long each fault took to recover from.
 *
 * Texts, not locations: a location goes into the relay's latest-value slot (SPEC §8), so a newer
 * one replaces an undelivered older one by design, and "acknowledged but never delivered" could
 * not tell a loss from a replacement. Every text must arrive.
 */

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVICES = ["identity", "connection", "location", "gateway"] as const;
type ServiceName = (typeof SERVICES)[number];

export type Fault =
  | { kind: "kill"; service: ServiceName }
  | { kind: "nats"; ms: number }
  | { kind: "postgres"; ms: number };

export interface ChaosOptions {
  pairs: number;
  /** Texts per second over all pairs. */
  rate: number;
  faults: Fault[];
  /** Load before the first fault and between faults. */
  settleMs: number;
  /** How long the drain may take after the load stops. */
  drainMs: number;
  log?: (line: string) => void;
}

export interface FaultReport {
  fault: string;
  /** From the fault's end (process started again, NATS or PostgreSQL back) until a fresh text went end to end; -1: not within 120 s. */
  recoveryMs: number;
  /** From the fault's start until the same. */
  outageMs: number;
}

export interface ChaosReport {
  queued: number;
  acked: number;
  delivered: number;
  /** Acknowledged by the relay but never handed to the receiving app. */
  lost: number;
  /** Handed to the receiving app more than once. */
  duplicates: number;
  /** Queued but not even acknowledged after the drain. */
  unacked: number;
  receiptsExpected: number;
  receiptsReceived: number;
  faults: FaultReport[];
  /** Services that exited without being told to (each was started again, as a supervisor would). */
  crashes: string[];
  elapsedMs: number;
  sendErrors: number;
}

/** A fault not recovered from in this long counts as not recovered. */
const RECOVERY_DEADLINE_MS = 120_000;
const RECEIPT_WAIT_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A process we start, stop and kill; its output goes to a log file for after-the-fact reading. */
class Child {
  private process?: ChildProcess;
  private stopping = false;

  /** `onCrash` hears of an exit nobody asked for; the process is then started again, as a supervisor would. */
  constructor(
    private readonly command: string,
    private readonly args: string[],
    private readonly env: Record<string, string | undefined>,
    private readonly logFile: string,
    private readonly onCrash: (how: string) => void = () => undefined,
  ) {}

  start(): void {
    this.stopping = false;
    const log = createWriteStream(this.logFile, { flags: "a" });
    const child = spawn(this.command, this.args, { cwd: ROOT, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    child.once("exit", (code, signal) => {
      if (this.stopping || this.process !== child) return;
      this.onCrash(signal ?? `exit code ${code}`);
      setTimeout(() => this.process === child && !this.stopping && this.start(), 1_000);
    });
    this.process = child;
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    this.stopping = true;
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    const forced = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(forced);
  }
}

interface Pair {
  a: SeeMeClient;
  b: SeeMeClient;
  /** B's pairID: A sends to it, B receives under it. */
  to: string;
  aSide: string;
}

const serving = (address: string) =>
  checkHealth(address).then(
    (status) => status === "SERVING",
    () => false,
  );

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const workDir = mkdtempSync(join(tmpdir(), "seeme-chaos-"));
  log(`chaos: ${options.pairs} pairs, ${options.rate} texts/s; logs in ${workDir}`);
  const resources = await createStackResources("chaos");
  const crashes: string[] = [];
  const postgres = await startTcpProxy("127.0.0.1", Number(new URL(resources.databases.identity.url).port || 5432));
  const throughProxy = (url: string) => {
    const parsed = new URL(url);
    parsed.port = String(postgres.port);
    return parsed.toString();
  };
  const natsPort = await freePort();
  const nats = new Child(
    "nats-server",
    ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", join(workDir, "nats")],
    { PATH: process.env.PATH },
    join(workDir, "nats.log"),
  );
  const ports = Object.fromEntries(
    await Promise.all(SERVICES.map(async (name) => [name, await freePort()] as const)),
  ) as Record<ServiceName, number>;
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    ...resources.env,
    ...allocatorEnv(),
    NATS_URL: `nats://127.0.0.1:${natsPort}`,
    IDENTITY_DATABASE_URL: throughProxy(resources.databases.identity.url),
    CONNECTION_DATABASE_URL: throughProxy(resources.databases.connection.url),
    LOCATION_DATABASE_URL: throughProxy(resources.databases.location.url),
    MIGRATE_ON_START: "true",
    HEALTH_INTERVAL_MS: "200",
    SHUTDOWN_TIMEOUT_MS: "2000",
    LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? "info",
    // Every device of this run calls from 127.0.0.1.
    IDENTITY_RATE_LIMIT_ADDRESS_BURST: "100000",
    IDENTITY_RATE_LIMIT_ADDRESS_PER_MINUTE: "100000",
    ...Object.fromEntries(SERVICES.map((name) => [`${name.toUpperCase()}_PORT`, String(ports[name])])),
    ...Object.fromEntries(
      SERVICES.filter((name) => name !== "gateway").map((name) => [
        `${name.toUpperCase()}_ADDR`,
        `127.0.0.1:${ports[name]}`,
      ]),
    ),
  };
  const services = Object.fromEntries(
    SERVICES.map((name) => [
      name,
      new Child(
        process.execPath,
        [join(ROOT, "services", name, "dist", "main.js")],
        env,
        join(workDir, `${name}.log`),
        (how) => {
          crashes.push(`${name}: ${how}`);
          log(`  ${name} exited unexpectedly (${how}); started again`);
        },
      ),
    ]),
  ) as Record<ServiceName, Child>;
  const address = (name: ServiceName) => `127.0.0.1:${ports[name]}`;
  const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;

  const allServing = () => Promise.all(SERVICES.map((name) => serving(address(name)))).then((s) => s.every(Boolean));
  const devices: SeeMeClient[] = [];
  const lives: Array<{ stop(): Promise<void> }> = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    nats.start();
    if (!(await waitFor(() => portOpen(natsPort), 10_000, 100))) throw new Error("nats-server did not start");
    // In dependency order: location rebuilds its routes from connection; the gateway calls all three.
    for (const name of SERVICES) {
      services[name].start();
      if (!(await waitFor(() => serving(address(name)), 60_000, 200)))
        throw new Error(`${name} did not report SERVING (see ${workDir}/${name}.log)`);
    }
    log("stack SERVING");

    const device = async () => {
      const client = new SeeMeClient({
        storage: new MemoryStorage(),
        gatewayUrl,
        retry: { attempts: 10, baseDelayMs: 200, maxDelayMs: 2_000 },
      });
      devices.push(client);
      await client.register();
      return client;
    };
    const pairUp = async (): Promise<Pair> => {
      const [a, b] = [await device(), await device()];
      const offer = await a.createOffer("B");
      const answer = await b.answerOffer(offer.qr, "A");
      const invite = await a.initiate(answer.qr, offer.connection);
      await b.confirm(invite.qr);
      // A learns the confirm from the 5/3 notice.
      await waitFor(
        async () => (await a.sync(), (await a.connection(offer.connection)).status === "active"),
        20_000,
        200,
      );
      return { a, b, to: answer.connection, aSide: offer.connection };
    };
    const pairs: Pair[] = [];
    for (let i = 0; i < options.pairs; i++) pairs.push(await pairUp());
    const probe = await pairUp();
    log(`${pairs.length} pairs and a probe pair connected`);

    // Accounting, keyed by B's pairID and the packetID.
    const queued = new Set<string>();
    const acked = new Set<string>();
    const delivered = new Map<string, number>();
    const receipts = new Set<string>();
    let sendErrors = 0;
    const probeArrivals = new Map<number, () => void>();
    for (const pair of pairs) {
      pair.a.events.on("stored", ({ peerPairId, packetIds }) => {
        for (const id of packetIds) acked.add(`${peerPairId}/${id}`);
      });
      pair.a.events.on("delivered", ({ peerPairId, packetIds }) => {
        for (const id of packetIds) receipts.add(`${peerPairId}/${id}`);
      });
      pair.b.events.on("message", (message: InboxMessage) => {
        if (message.kind !== "text") return;
        const key = `${message.connection}/${message.packetId}`;
        delivered.set(key, (delivered.get(key) ?? 0) + 1);
      });
    }
    probe.b.events.on("message", (message: InboxMessage) => {
      if (message.kind === "text") probeArrivals.get(message.packetId)?.();
    });
    for (const pair of [...pairs, probe]) lives.push(await pair.b.startLive());

    // Load: texts round-robin over the pairs; each send queues first and syncs (offline first).
    let next = 0;
    let sending = true;
    timers.push(
      setInterval(
        () => {
          if (!sending) return;
          const pair = pairs[next++ % pairs.length];
          pair.a
            .sendText(`chaos ${next}`, { to: pair.aSide })
            .then((report) => {
              for (const { packetIds } of report.sent) for (const id of packetIds) queued.add(`${pair.to}/${id}`);
            })
            .catch(() => sendErrors++);
        },
        Math.max(1, Math.round(1000 / options.rate)),
      ),
    );
    // Every device syncs now and then: senders flush what an outage left queued and collect
    // receipts, receivers fetch what a broken stream missed.
    let pumping = false;
    timers.push(
      setInterval(() => {
        if (pumping) return;
        pumping = true;
        void Promise.allSettled(devices.map((d) => d.sync())).finally(() => (pumping = false));
      }, 2_000),
    );

    /** Sends a probe text and resolves once the probe receiver's app has it. */
    let probeSeq = 0;
    const endToEnd = async (deadline: number): Promise<boolean> => {
      while (Date.now() < deadline) {
        const report = await probe.a.sendText(`probe ${++probeSeq}`, { to: probe.aSide }).catch(() => undefined);
        const id = report?.sent[0]?.packetIds[0];
        if (id !== undefined) {
          const arrived = new Promise<boolean>((resolve) => {
            probeArrivals.set(id, () => resolve(true));
            setTimeout(() => resolve(false), 5_000);
          });
          const poll = setInterval(() => void probe.b.sync().catch(() => undefined), 500);
          const ok = await arrived;
          clearInterval(poll);
          probeArrivals.delete(id);
          if (ok) return true;
        }
        await sleep(200);
      }
      return false;
    };

    const faults: FaultReport[] = [];
    await sleep(options.settleMs);
    for (const fault of options.faults) {
      const name = fault.kind === "kill" ? `kill -9 ${fault.service}` : `${fault.kind} down ${fault.ms / 1000} s`;
      log(`fault: ${name}`);
      const faultStart = Date.now();
      if (fault.kind === "kill") {
        await services[fault.service].stop("SIGKILL");
        services[fault.service].start();
      } else if (fault.kind === "nats") {
        await nats.stop("SIGKILL");
        await sleep(fault.ms);
        nats.start();
      } else {
        postgres.cut();
        await sleep(fault.ms);
        postgres.restore();
      }
      const faultEnd = Date.now();
      const recovered = await endToEnd(faultEnd + RECOVERY_DEADLINE_MS);
      const done = Date.now();
      faults.push({
        fault: name,
        recoveryMs: recovered ? done - faultEnd : -1,
        outageMs: recovered ? done - faultStart : -1,
      });
      log(
        recovered
          ? `  recovered: ${done - faultEnd} ms after the fault ended (${done - faultStart} ms after it began)`
          : `  NOT recovered within ${RECOVERY_DEADLINE_MS / 1000} s`,
      );
      if (!(await waitFor(allServing, 60_000, 200))) log("  WARNING: not every service SERVING after 60 s");
      await sleep(options.settleMs);
    }

    // Drain: no new load; sync until everything acknowledged reached its app and receipts came back.
    sending = false;
    log("draining");
    const drainEnd = Date.now() + options.drainMs;
    const settled = () => [...queued].every((key) => acked.has(key)) && [...acked].every((key) => delivered.has(key));
    const receiptsIn = () => [...delivered.keys()].every((key) => receipts.has(key));
    // Receipts get at most RECEIPT_WAIT_MS once the texts are in: one lost for good never comes.
    let receiptsUntil = Number.POSITIVE_INFINITY;
    while (Date.now() < Math.min(drainEnd, receiptsUntil) && !(settled() && receiptsIn())) {
      await Promise.allSettled(devices.map((d) => d.sync()));
      if (settled() && receiptsUntil === Number.POSITIVE_INFINITY) receiptsUntil = Date.now() + RECEIPT_WAIT_MS;
      await sleep(500);
    }
    const lost = [...acked].filter((key) => !delivered.has(key)).length;
    return {
      queued: queued.size,
      acked: acked.size,
      delivered: delivered.size,
      lost,
      duplicates: [...delivered.values()].reduce((sum, n) => sum + n - 1, 0),
      unacked: [...queued].filter((key) => !acked.has(key)).length,
      receiptsExpected: delivered.size,
      receiptsReceived: [...delivered.keys()].filter((key) => receipts.has(key)).length,
      faults,
      crashes,
      elapsedMs: Date.now() - started,
      sendErrors,
    };
  } finally {
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled(lives.map((live) => live.stop()));
    for (const device of devices) device.close();
    for (const name of [...SERVICES].reverse()) await services[name].stop();
    await nats.stop();
    await postgres.close();
    await resources.release();
    if (!process.env.CHAOS_KEEP_LOGS) rmSync(workDir, { recursive: true, force: true });
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** What fails the run: acknowledged texts lost or duplicated, never acknowledged, crashes, slow recovery, lost receipts. */
export function verdict(report: ChaosReport): string[] {
  const problems: string[] = [];
  if (report.lost > 0) problems.push(`${report.lost} acknowledged texts never reached the app`);
  if (report.duplicates > 0) problems.push(`${report.duplicates} texts reached the app twice`);
  if (report.unacked > 0) problems.push(`${report.unacked} queued texts were never acknowledged after the drain`);
  if (report.crashes.length > 0) problems.push(`services crashed: ${report.crashes.join(", ")}`);
  const unrecovered = report.faults.filter((fault) => fault.recoveryMs < 0).map((fault) => fault.fault);
  if (unrecovered.length > 0) problems.push(`not recovered from: ${unrecovered.join(", ")}`);
  const lostReceipts = report.receiptsExpected - report.receiptsReceived;
  if (lostReceipts > 0) problems.push(`${lostReceipts} receipts never reached the sender`);
  return problems;
}
