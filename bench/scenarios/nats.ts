import { connect, RetentionPolicy, StorageType } from "nats";
import { createTestBus } from "@seeme/testkit/nats";
import type { Progress } from "../lib/progress.js";
import { blobFor, closedLoop, round, sleep, type LatencySummary } from "../lib/stats.js";

export interface NatsResult {
  /** Core publish, counted when a subscriber on another connection has them. */
  core: { messagesPerSecond: number; lost: number };
  /** JetStream publish to a file-storage stream, counted on the server's ack. */
  jetstream: { messagesPerSecond: number; concurrency: number; ackLatency: LatencySummary };
}

const CHUNK = 100;

/** Raw NATS with the same 128-byte payloads: core publish and JetStream publish (file storage). */
export async function benchNats(
  say: Progress,
  options: { durationMs: number; concurrency: number },
): Promise<NatsResult> {
  const bus = createTestBus("bench_nats");
  const publisher = await connect({ servers: bus.url, name: "bench-publisher" });
  const subscriber = await connect({ servers: bus.url, name: "bench-subscriber" });
  try {
    let received = 0;
    const subject = `${bus.prefix}.core`;
    subscriber.subscribe(subject, { callback: () => void received++ });
    await subscriber.flush();
    let sent = 0;
    const started = performance.now();
    // Flushing every chunk keeps the client from buffering faster than the server takes it.
    while (performance.now() - started < options.durationMs) {
      for (let i = 0; i < CHUNK; i++) publisher.publish(subject, blobFor(sent++));
      await publisher.flush();
    }
    const deadline = performance.now() + 5000;
    while (received < sent && performance.now() < deadline) await sleep(5);
    const seconds = (performance.now() - started) / 1000;
    const core = { messagesPerSecond: round(received / seconds, 0), lost: sent - received };
    say(`NATS core publish: ${core.messagesPerSecond} msg/s (${core.lost} not received)`);

    const jsm = await publisher.jetstreamManager();
    const stream = `${bus.prefix}_BENCH`;
    await jsm.streams.add({
      name: stream,
      subjects: [`${bus.prefix}.js.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
    });
    const js = publisher.jetstream();
    let id = 0;
    const run = await closedLoop(
      { concurrency: options.concurrency, durationMs: options.durationMs, warmupMs: options.durationMs / 4 },
      async () => {
        await js.publish(`${bus.prefix}.js.packet`, blobFor(id++));
        return 1;
      },
    );
    const jetstream = { messagesPerSecond: run.perSecond, concurrency: options.concurrency, ackLatency: run.latency };
    say(
      `NATS JetStream publish (file): ${jetstream.messagesPerSecond} msg/s, ack p50 ${run.latency.p50Ms} ms p99 ${run.latency.p99Ms} ms`,
    );
    return { core, jetstream };
  } finally {
    await publisher.close();
    await subscriber.close();
    await bus.cleanup();
  }
}
