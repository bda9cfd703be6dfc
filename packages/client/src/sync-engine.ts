import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { Slot, SyncTarget, type IncomingPacket, type LocationService, type SyncMeta } from "@seeme/contracts/location";
import { backoffDelay, sleep, withCause, withRetry, type RetryPolicy } from "./backoff.js";
import type { ClientEvents } from "./client-events.js";
import { fromBase64 } from "./connection-state.js";
import type { Emitter } from "./events.js";
import { fromBase64 as decodeBase64 } from "./connection-state.js";
import { importConnectionKeyPairs } from "./keys.js";
import { commitPackets, sealPayloads } from "./outgoing.js";
import { applyIncoming, openIncoming, type ReceiveOptions, type ReceiveOutcome } from "./receive.js";
import { SerialQueue, type DeviceState, type DeviceStorage, type InboxMessage } from "./storage.js";

/** Server limits from GatewayService.GetServerInfo. */
export interface ServerLimits {
  maxBlobBytes: number;
  maxPacketsPerSync: number;
}

export interface SyncEngineDeps {
  storage: DeviceStorage;
  location: Client<typeof LocationService>;
  limits: () => Promise<ServerLimits>;
  now: () => Date;
  retry: RetryPolicy;
  events: Emitter<ClientEvents>;
  /** Signs in again after the server refused the session; the call is then retried once. */
  reauthenticate: () => Promise<void>;
  /** Learns which connections ended server-side after a PermissionDenied; the round is then retried once. */
  reconcile: () => Promise<void>;
  /** Fills in `age` and `stale` of a message as it is handed out. */
  present?: (message: InboxMessage, now: Date) => InboxMessage;
  receive?: ReceiveOptions;
}

export interface SyncReport {
  /** Packets the server confirmed it stored. */
  sent: number;
  /** Packets and server messages received and persisted. */
  received: number;
  /** Sync calls made. */
  rounds: number;
}

export interface LiveHandle {
  /** Resolves when the stream has delivered the backlog and live delivery begins. */
  caughtUp: Promise<void>;
  stop(): Promise<void>;
}

// The relay's own bound (validate.ts) is 5000 acknowledgements per request.
const MAX_ACKS_PER_SYNC = 5000;
// One sync drains a backlog page by page; this bounds a misbehaving server.
const MAX_ROUNDS = 20;
// Acknowledgements of live packets are gathered this long into one Sync.
const ACK_DELAY_MS = 20;

interface Acks {
  pairId: string;
  packetIds: number[];
}

interface SyncRound {
  lastPacketsReceived: Acks[];
  receiptsSeen: Acks[];
  data: Array<{ pairId: string; packetId: number; blob: Uint8Array; urgent: boolean }>;
}

/**
 * Moves packets between the device's storage and the relay:
 * - outgoing packets are read from the storage outbox (where they were queued with
 *   their packetIDs) in batches of at most maxPacketsPerSync, and leave the outbox
 *   only when the server lists them as received, so a failed call resends the very
 *   same packets and the server stores them once;
 * - incoming packets are opened, checked and persisted first; their
 *   acknowledgements go out with the next Sync, never before;
 * - transient failures back off exponentially with jitter;
 * - `startLive` keeps a Subscribe stream open, reconnecting with backoff and
 *   syncing after each (re)connect.
 */
export class SyncEngine {
  private readonly queue = new SerialQueue();
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private deferred: Promise<unknown> = Promise.resolve();
  /** Subscribe streams that caught up so far. */
  private streams = 0;
  /** Which of them is live and caught up now; 0 while none is. */
  private liveStream = 0;
  /** The last live stream under which a Sync fetched everything waiting. */
  private fetchedUnder = 0;

  constructor(private readonly deps: SyncEngineDeps) {}

  /** Sends what is queued, acknowledges what was persisted and fetches what waits, until nothing is left. */
  sync(): Promise<SyncReport> {
    return this.queue.run(() => this.syncRounds());
  }

  /** Persists incoming packets (from Sync or Subscribe) and reports each outcome. */
  async receive(packets: IncomingPacket[]): Promise<ReceiveOutcome[]> {
    if (packets.length === 0) return [];
    const outcomes = await this.receiveBatch(packets);
    // A confirm in this batch may have brought the keys the later packets were signed with:
    // those are tried again at once (and left for the relay to redeliver if they still fail).
    for (
      let round = 0;
      round < 2 && outcomes.some((o) => o.kind === "rekeyed") && outcomes.some((o) => o.kind === "deferred");
      round++
    ) {
      const again = outcomes.flatMap((outcome, i) => (outcome.kind === "deferred" ? [i] : []));
      const retried = await this.receiveBatch(again.map((i) => packets[i]));
      again.forEach((index, j) => (outcomes[index] = retried[j]));
      if (!retried.some((o) => o.kind === "rekeyed")) break;
    }
    await this.queueOwedConfirms();
    return outcomes;
  }

  private async receiveBatch(packets: IncomingPacket[]): Promise<ReceiveOutcome[]> {
    // Opening is async (WebCrypto): done on a snapshot, then applied in one synchronous update.
    const snapshot = await this.deps.storage.read();
    const opened = await Promise.all(packets.map((packet) => openIncoming(snapshot, packet)));
    const now = this.deps.now();
    const { outcomes, changed } = await this.deps.storage.update((state) => {
      const before = new Map(state.connections.map((c) => [c.pairId, c.status]));
      const outcomes = packets.map((packet, i) => applyIncoming(state, packet, now, opened[i], this.deps.receive));
      const changed = state.connections.filter((c) => before.get(c.pairId) !== c.status);
      return { outcomes, changed };
    });
    const { events } = this.deps;
    outcomes.forEach((outcome, i) => {
      const packetId = packets[i].packetId;
      if (outcome.kind === "message")
        events.emit("message", this.deps.present?.(outcome.message, now) ?? outcome.message);
      if (outcome.kind === "edited") {
        const { connection, packetId: parent, action, found, message } = outcome;
        events.emit("edited", { connection, packetId: parent, action, found, ...(message ? { message } : {}) });
      }
      if (outcome.kind === "rekeyed") events.emit("rekeyed", { connection: outcome.connection, step: outcome.step });
      if (outcome.kind === "rejected")
        events.emit("rejected", { connection: outcome.connection, packetId, reason: outcome.reason });
      if (outcome.kind === "dropped")
        events.emit("dropped", { connection: outcome.connection, packetId, reason: outcome.reason });
    });
    for (const c of changed) events.emit("connection", { connection: c.pairId, label: c.label, status: c.status });
    return outcomes;
  }

  /**
   * Seals and queues the key-rotation confirms owed for offers just applied: signed with my old
   * signing key (the only one the peer knows yet) and sealed to the peer's new encryption key.
   */
  private async queueOwedConfirms(): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const state = await this.deps.storage.read();
      const owed = state.connections.filter((c) => c.owedRekeyConfirm && c.previousKeys && c.status === "active");
      if (owed.length === 0) return;
      const sealed = await Promise.all(
        owed.map(async (connection) => {
          const old = importConnectionKeyPairs({
            signingSecretKey: decodeBase64(connection.previousKeys!.signingSecretKey),
            encryptionSecretKey: decodeBase64(connection.previousKeys!.encryptionSecretKey),
          });
          return {
            connection,
            packets: await sealPayloads(
              connection,
              [connection.owedRekeyConfirm!],
              Number.MAX_SAFE_INTEGER,
              this.deps.now(),
              {},
              old,
            ),
          };
        }),
      );
      const done = await this.deps.storage.update((next) => {
        for (const { connection, packets } of sealed) {
          const current = next.connections.find((c) => c.pairId === connection.pairId);
          if (!current || current.owedRekeyConfirm !== connection.owedRekeyConfirm) return false;
          if (!commitPackets(next, connection.pairId, connection.lastPacketId, packets)) return false;
          delete current.owedRekeyConfirm;
        }
        return true;
      });
      if (done) return;
    }
  }

  startLive(): LiveHandle {
    const controller = new AbortController();
    const { signal } = controller;
    let markCaughtUp!: () => void;
    const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
    const loop = (async () => {
      for (let attempt = 0; !signal.aborted; attempt++) {
        try {
          for await (const response of this.deps.location.subscribe({}, { signal })) {
            if (response.event.case === "packet") {
              await this.receive([response.event.value]);
              this.scheduleSync();
            } else if (response.event.case === "caughtUp") {
              attempt = 0;
              this.liveStream = ++this.streams;
              markCaughtUp();
              this.deps.events.emit("live", true);
              this.scheduleSync();
            }
          }
        } catch (error) {
          if (signal.aborted) break;
          // With its cause ("gateway unreachable: … ECONNREFUSED"), so an app can say why it is reconnecting.
          const failure = withCause(error);
          if (failure.code === Code.Unauthenticated)
            await this.deps
              .reauthenticate()
              .catch((e: unknown) => this.deps.events.emit("error", ConnectError.from(e)));
          else this.deps.events.emit("error", failure);
        }
        this.liveStream = 0;
        if (signal.aborted) break;
        this.deps.events.emit("live", false);
        await sleep(backoffDelay(attempt, this.deps.retry), signal);
      }
    })();
    return {
      caughtUp,
      stop: async () => {
        controller.abort();
        await loop;
        this.liveStream = 0;
        if (this.ackTimer) clearTimeout(this.ackTimer);
        this.ackTimer = undefined;
        await this.deferred;
      },
    };
  }

  /** A Sync soon, gathering the acknowledgements of packets pushed meanwhile. */
  private scheduleSync(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      this.deferred = this.sync().catch((error: unknown) => this.deps.events.emit("error", ConnectError.from(error)));
    }, ACK_DELAY_MS);
  }

  private async syncRounds(): Promise<SyncReport> {
    const report: SyncReport = { sent: 0, received: 0, rounds: 0 };
    const limits = await this.deps.limits();
    let hasMore = false;
    let reauthenticated = false;
    let reconciled = false;
    while (report.rounds < MAX_ROUNDS) {
      // While a caught-up stream delivers what arrives, a Sync only sends and
      // acknowledges; the first one after each (re)connect still fetches, to pick
      // up anything the stream may have missed.
      const stream = this.liveStream;
      const skipIncoming = stream !== 0 && this.fetchedUnder === stream;
      const request = { ...buildRequest(await this.deps.storage.read(), limits), skipIncoming };
      // Receipt acknowledgements alone do not call for a round: they go with the next Sync.
      if (report.rounds > 0 && !hasMore && request.data.length === 0 && request.lastPacketsReceived.length === 0) break;
      let response;
      try {
        response = await withRetry(() => this.deps.location.sync(request), this.deps.retry);
      } catch (error) {
        const failure = ConnectError.from(error);
        if (failure.code === Code.Unauthenticated && !reauthenticated) {
          reauthenticated = true;
          await this.deps.reauthenticate();
          continue;
        }
        if (failure.code === Code.PermissionDenied && !reconciled) {
          reconciled = true;
          await this.deps.reconcile();
          continue;
        }
        throw failure;
      }
      report.rounds++;
      if (!skipIncoming && !response.hasMore) this.fetchedUnder = stream;

      const stored = new Map<string, Set<number>>();
      for (const meta of response.syncMeta) {
        if (meta.target !== SyncTarget.SENDER) continue;
        if (meta.receivedPackets.length > 0) {
          stored.set(meta.pairId, new Set(meta.receivedPackets));
          this.deps.events.emit("stored", { peerPairId: meta.pairId, packetIds: meta.receivedPackets });
        }
      }
      const newlyDelivered = await this.deps.storage.update((state) => {
        const before = state.outbox.length;
        state.outbox = state.outbox.filter((packet) => !stored.get(packet.pairId)?.has(packet.packetId));
        report.sent += before - state.outbox.length;
        for (const { pairId, packetIds } of request.lastPacketsReceived) {
          const left = (state.acks[pairId] ?? []).filter((id) => !packetIds.includes(id));
          if (left.length > 0) state.acks[pairId] = left;
          else delete state.acks[pairId];
        }
        return takeReceipts(state, request.receiptsSeen, response.syncMeta);
      });
      // Persisted first: a receipt the relay reports again (its acknowledgement was lost) is not reported twice.
      for (const [peerPairId, packetIds] of newlyDelivered)
        this.deps.events.emit("delivered", { peerPairId, packetIds });
      const outcomes = await this.receive(response.data);
      report.received += outcomes.filter((outcome) => outcome.kind !== "skipped" && outcome.kind !== "deferred").length;
      hasMore = response.hasMore;
    }
    return report;
  }
}

function buildRequest(state: DeviceState, limits: ServerLimits): SyncRound {
  const lastPacketsReceived: Acks[] = [];
  let budget = MAX_ACKS_PER_SYNC;
  for (const [pairId, ids] of Object.entries(state.acks)) {
    if (budget === 0 || ids.length === 0) continue;
    const packetIds = ids.slice(0, budget);
    budget -= packetIds.length;
    lastPacketsReceived.push({ pairId, packetIds });
  }
  const receiptsSeen: Acks[] = [];
  budget = MAX_ACKS_PER_SYNC;
  for (const [pairId, ids] of Object.entries(state.receiptsSeen ?? {})) {
    if (budget === 0 || ids.length === 0) continue;
    const packetIds = ids.slice(0, budget);
    budget -= packetIds.length;
    receiptsSeen.push({ pairId, packetIds });
  }
  const data = state.outbox
    .slice(0, limits.maxPacketsPerSync)
    // Locations go in the latest-value slot: the relay keeps only the newest undelivered one (SPEC §8).
    .map((packet) => ({
      pairId: packet.pairId,
      packetId: packet.packetId,
      blob: fromBase64(packet.blob),
      urgent: packet.urgent ?? false,
      slot: packet.kind === "location" ? Slot.LOCATION : Slot.UNSPECIFIED,
    }));
  return { lastPacketsReceived, receiptsSeen, data };
}

/**
 * Bookkeeping of receipts after a Sync answered: the ones it acknowledged are
 * done (the relay deleted them); the ones it reported are remembered, to be
 * acknowledged by the next Sync. Returns the delivered ones not seen before,
 * per peer pairID: what the app has not been told yet.
 */
function takeReceipts(state: DeviceState, acknowledged: Acks[], meta: SyncMeta[]): Map<string, number[]> {
  state.receiptsSeen ??= {};
  const seen = state.receiptsSeen;
  const told = new Map(Object.entries(seen).map(([pairId, ids]) => [pairId, new Set(ids)]));
  for (const { pairId, packetIds } of acknowledged) {
    const done = new Set(packetIds);
    const left = (seen[pairId] ?? []).filter((id) => !done.has(id));
    if (left.length > 0) seen[pairId] = left;
    else delete seen[pairId];
  }
  const fresh = new Map<string, number[]>();
  for (const entry of meta) {
    if (entry.target !== SyncTarget.SENDER) continue;
    // Reported again though acknowledged (the acknowledgement did not land): acknowledged again, not told again.
    const pending = new Set(seen[entry.pairId] ?? []);
    const added = [...entry.deliveredPackets, ...entry.supersededPackets].filter((id) => !pending.has(id));
    if (added.length > 0) seen[entry.pairId] = [...pending, ...added];
    const delivered = entry.deliveredPackets.filter((id) => !told.get(entry.pairId)?.has(id));
    if (delivered.length > 0) fresh.set(entry.pairId, delivered);
  }
  return fresh;
}
