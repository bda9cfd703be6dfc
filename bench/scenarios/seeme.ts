import { ConnectError } from "@connectrpc/connect";
import { SyncTarget, type SyncResponse } from "@seeme/contracts/location";
import type { DevicePair } from "../lib/devices.js";
import { blobFor, Latencies, round, sleep, type LatencySummary } from "../lib/stats.js";

/**
 * see-me end to end, as devices use it through the gateway: senders Sync
 * packets to their peer's pairID; recipients hold a Subscribe stream, and
 * acknowledge what it delivered with Sync. A packet counts once the recipient's
 * Sync reports it deleted.
 */
export interface FlowOptions {
  /**
   * closed: every sender keeps one Sync of `batch` packets in flight (saturation).
   * open: packets are created at `rate` per second in total regardless of how
   * fast the system answers; each device sends what it has queued in its next
   * Sync, one Sync in flight per device, as the client SDK's sync engine does.
   * Latency counts from the scheduled creation time, so queueing shows.
   */
  mode: "closed" | "open";
  batch?: number;
  rate?: number;
  warmupMs: number;
  durationMs: number;
  /** Most time allowed after the run for in-flight packets to arrive and be acknowledged. */
  drainMs: number;
}

export interface FlowResult {
  mode: "closed" | "open";
  pairs: number;
  batch?: number;
  offeredPerSecond?: number;
  /** Packets the senders' Syncs reported stored, per second. */
  sentPerSecond: number;
  /** Packets the recipients' Syncs reported deleted after acknowledgement, per second. */
  ackedPerSecond: number;
  /** Send (or scheduled creation) → arrival on the recipient's Subscribe stream. */
  latency: LatencySummary;
  /** Syncs per second (senders' and recipients'). */
  syncsPerSecond: number;
  /**
   * Packets returned again in the data of recipients' acknowledging Syncs,
   * though Subscribe already pushed them (the Sync response lists what is still queued).
   */
  resentInSyncPerSecond: number;
  errors: Record<string, number>;
  /** Packets sent in the window that never arrived within drainMs. */
  lost: number;
}

interface RecipientState {
  pending: number[];
  acking: boolean;
}

const MAX_PER_SYNC = 500;

export async function runFlow(pairs: DevicePair[], options: FlowOptions): Promise<FlowResult> {
  const sentAt = new Map<string, number>();
  const latency = new Latencies();
  const errors: Record<string, number> = {};
  const counts = { sent: 0, acked: 0, syncs: 0, resent: 0, sentInWindow: 0 };
  const start = performance.now();
  const from = start + options.warmupMs;
  const until = from + options.durationMs;
  const inWindow = (t: number) => t >= from && t < until;
  let stopped = false;
  const fail = (error: unknown) => {
    const key = error instanceof ConnectError ? `${error.code}: ${error.rawMessage}` : String(error);
    errors[key] = (errors[key] ?? 0) + 1;
  };

  // Recipients: subscribe first and wait until each stream has caught up.
  const aborts: AbortController[] = [];
  const recipients = new Map<DevicePair, RecipientState>();
  const acknowledge = async (pair: DevicePair, state: RecipientState) => {
    if (state.acking) return;
    state.acking = true;
    while (state.pending.length > 0) {
      const ids = state.pending.splice(0, MAX_PER_SYNC);
      try {
        // The recipient's Subscribe stream is live and caught up, so, like the SDK, it only acknowledges.
        const response: SyncResponse = await pair.recipient.location.sync(
          { lastPacketsReceived: [{ pairId: pair.to, packetIds: ids }], skipIncoming: true },
          pair.recipient.call,
        );
        const now = performance.now();
        if (inWindow(now)) {
          counts.syncs++;
          counts.acked +=
            response.syncMeta.find((meta) => meta.target === SyncTarget.RECIPIENT && meta.pairId === pair.to)
              ?.deletedPackets.length ?? 0;
          counts.resent += response.data.filter((packet) => packet.pairId === pair.to).length;
        }
      } catch (error) {
        fail(error);
      }
    }
    state.acking = false;
  };
  const streams = pairs.map(async (pair) => {
    const state: RecipientState = { pending: [], acking: false };
    recipients.set(pair, state);
    const abort = new AbortController();
    aborts.push(abort);
    let caughtUp!: () => void;
    const ready = new Promise<void>((resolve) => (caughtUp = resolve));
    const done = (async () => {
      try {
        for await (const { event } of pair.recipient.location.subscribe(
          {},
          { ...pair.recipient.call, signal: abort.signal },
        )) {
          if (event.case === "caughtUp") caughtUp();
          else if (event.case === "packet" && event.value.pairId === pair.to) {
            const key = `${pair.to}/${event.value.packetId}`;
            const t0 = sentAt.get(key);
            if (t0 !== undefined) {
              sentAt.delete(key);
              if (inWindow(t0)) latency.add(performance.now() - t0);
            }
            state.pending.push(event.value.packetId);
            void acknowledge(pair, state);
          }
        }
      } catch (error) {
        if (!abort.signal.aborted) fail(error);
      }
      caughtUp();
    })();
    await ready;
    return { done };
  });
  const ended = (await Promise.all(streams)).map(({ done }) => done);

  // Like the SDK, each sender's Sync acknowledges the receipts its previous one reported.
  const receipts = new Map<DevicePair, number[]>();
  const send = async (pair: DevicePair, packets: Array<{ id: number; at: number }>) => {
    for (const { id, at } of packets) sentAt.set(`${pair.to}/${id}`, at);
    try {
      const seen = receipts.get(pair) ?? [];
      const response = await pair.sender.location.sync(
        {
          data: packets.map(({ id }) => ({ pairId: pair.to, packetId: id, blob: blobFor(id) })),
          receiptsSeen: seen.length > 0 ? [{ pairId: pair.to, packetIds: seen }] : [],
        },
        pair.sender.call,
      );
      const meta = response.syncMeta.find((entry) => entry.target === SyncTarget.SENDER && entry.pairId === pair.to);
      receipts.set(pair, [...(meta?.deliveredPackets ?? []), ...(meta?.supersededPackets ?? [])]);
      const now = performance.now();
      if (inWindow(now)) {
        counts.syncs++;
        counts.sent +=
          response.syncMeta.find((meta) => meta.target === SyncTarget.SENDER && meta.pairId === pair.to)
            ?.receivedPackets.length ?? 0;
      }
    } catch (error) {
      for (const { id } of packets) sentAt.delete(`${pair.to}/${id}`);
      fail(error);
      await sleep(10);
    }
    for (const { at } of packets) if (inWindow(at)) counts.sentInWindow++;
  };

  let offered: number | undefined;
  if (options.mode === "closed") {
    const batch = options.batch ?? 1;
    await Promise.all(
      pairs.map(async (pair) => {
        while (performance.now() < until) {
          const at = performance.now();
          await send(
            pair,
            Array.from({ length: batch }, () => ({ id: pair.nextPacketId++, at })),
          );
        }
      }),
    );
  } else {
    const rate = options.rate ?? 100;
    offered = rate;
    const queues = pairs.map(() => [] as Array<{ id: number; at: number }>);
    const sending = pairs.map(() => false);
    const drainQueue = async (i: number) => {
      if (sending[i]) return;
      sending[i] = true;
      while (queues[i].length > 0) await send(pairs[i], queues[i].splice(0, MAX_PER_SYNC));
      sending[i] = false;
    };
    let created = 0;
    while (!stopped) {
      const now = performance.now();
      if (now >= until) break;
      // Everything scheduled up to now, at its scheduled time: a late tick does not thin the load.
      const due = Math.floor(((now - start) / 1000) * rate);
      for (; created < due; created++) {
        const i = created % pairs.length;
        queues[i].push({ id: pairs[i].nextPacketId++, at: start + (created * 1000) / rate });
        void drainQueue(i);
      }
      await sleep(1);
    }
    while (sending.some(Boolean)) await sleep(5);
  }
  stopped = true;

  // Let what is in flight arrive and be acknowledged, so the next run starts with empty inboxes.
  const drainUntil = performance.now() + options.drainMs;
  while (
    performance.now() < drainUntil &&
    (sentAt.size > 0 || [...recipients.values()].some((s) => s.acking || s.pending.length > 0))
  )
    await sleep(10);
  let lost = 0;
  for (const at of sentAt.values()) if (inWindow(at)) lost++;
  for (const abort of aborts) abort.abort();
  await Promise.all(ended);

  const seconds = options.durationMs / 1000;
  return {
    mode: options.mode,
    pairs: pairs.length,
    batch: options.mode === "closed" ? (options.batch ?? 1) : undefined,
    offeredPerSecond: offered,
    sentPerSecond: round(counts.sent / seconds, 0),
    ackedPerSecond: round(counts.acked / seconds, 0),
    latency: latency.summary(),
    syncsPerSecond: round(counts.syncs / seconds, 0),
    resentInSyncPerSecond: round(counts.resent / seconds, 0),
    errors,
    lost,
  };
}
