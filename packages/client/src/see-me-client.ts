import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { registerAccount, signInAccount } from "./account.js";
import {
  bearerInterceptor,
  createGatewayApi,
  createGatewayTransport,
  type GatewayApi,
  type GatewayProtocol,
} from "./api.js";
import { DEFAULT_RETRY, withCause, withRetry, type RetryPolicy } from "./backoff.js";
import type { ClientEvents } from "./client-events.js";
import {
  cancelCheckIn,
  checkIn,
  extendCheckIn,
  heldPacketClient,
  type CheckIn,
  type CheckInDeps,
  type CheckInOptions,
} from "./check-in.js";
import { encodeLocation, type LocationUpdate } from "./codec-location.js";
import { encodePinBody, type LocationPin } from "./codec-pin.js";
import { encodeStatus } from "./codec-status.js";
import { splitText } from "./codec-text.js";
import { SimpleStatus, TextMessageKind } from "./codes.js";
import { findConnection, fromBase64, retireConnection, withdrawQueuedLocations } from "./connection-state.js";
import { ClientError } from "./errors.js";
import { Emitter } from "./events.js";
import * as handshake from "./handshake.js";
import { importAccountKeyPair } from "./keys.js";
import {
  MAX_COMMIT_ATTEMPTS,
  commitPackets,
  sealPayloads,
  sendTargets,
  type FixMeta,
  type SendReport,
} from "./outgoing.js";
import { encodeRekey, newKeySet } from "./key-rotation.js";
import { DEFAULT_RETENTION, pruneState, type RetentionPolicy } from "./retention.js";
import type {
  DeviceState,
  DeviceStorage,
  InboxMessage,
  OutboxPacket,
  StatusesWhileHidden,
  StoredConnection,
} from "./storage.js";
import { SyncEngine, type LiveHandle, type ServerLimits, type SyncReport } from "./sync-engine.js";

export interface SeeMeClientOptions {
  storage: DeviceStorage;
  /** The gateway, e.g. `http://127.0.0.1:8080`. Ignored when `transport` is given. */
  gatewayUrl?: string;
  protocol?: GatewayProtocol;
  /** A ready transport (tests); it must add the session itself or use `client.sessionInterceptor`. */
  transport?: (auth: ReturnType<typeof bearerInterceptor>) => Transport;
  now?: () => Date;
  retry?: Partial<RetryPolicy>;
  /** How long received locations and messages are kept (default 30 / 180 days). */
  retention?: Partial<RetentionPolicy>;
  /** A location older than this is marked `stale` when handed out (default 15 minutes). */
  staleAfterMs?: number;
  /** Old keys keep opening packets this long after a key rotation, then are erased (default 7 days). */
  rotationGraceMs?: number;
  /** Connection keys are rotated once this old (default 80 days: before the server's 90-day `rekey_due`). */
  rekeyAfterDays?: number;
}

/** What a send checks against before the server was ever asked (README: MAX_BLOB_BYTES, MAX_PACKETS_PER_SYNC). */
export const DEFAULT_SERVER_LIMITS: ServerLimits = { maxBlobBytes: 4096, maxPacketsPerSync: 500 };
export const DEFAULT_STALE_AFTER_MS = 15 * 60_000;
export const DEFAULT_REKEY_AFTER_DAYS = 80;
const DAY_MS = 86_400_000;

/** What one send queues, worked out from the state it is sealed against. */
interface SendPlan {
  payloads: string[];
  location: boolean;
  meta?: FixMeta;
  /** Runs in the update that queues the packets (e.g. the sharing flag itself). */
  apply?: (state: DeviceState) => void;
  /** Refuses a connection this send cannot go to (e.g. a reply to a message it never had). */
  check?: (state: DeviceState, connection: StoredConnection) => void;
  /** Records what was queued for one connection (texts I sent). */
  record?: (state: DeviceState, connection: StoredConnection, packetIds: number[]) => void;
}

/** Another update moved a connection between sealing and queueing: seal again. */
class QueueConflict extends Error {}

/** A connection as apps show it (no secret keys). */
export interface ConnectionView {
  /** My pairID: the connection's id. */
  connection: string;
  peerPairId?: string;
  label: string;
  role: StoredConnection["role"];
  status: StoredConnection["status"];
  /** False once the peer's latest packet said their sharing is off: they get no location from me. */
  peerSharing: boolean;
  /** Which of the peer's statuses and texts reach me while my location is hidden (see `setStatusesWhileHidden`); always set. */
  statusesWhileHidden?: StatusesWhileHidden;
  createdAt: string;
}

export interface SendOptions {
  /** A connection (my pairID, the peer's pairID, a unique prefix or its label); all active ones when omitted. */
  to?: string;
  /** Queue only and leave the Sync to later (default: sync at once). */
  sync?: boolean;
}

export interface TextOptions extends SendOptions {
  kind?: TextMessageKind;
  /** The message this replies to, updates, deletes or pins against (its packetID). */
  parentPacketId?: number;
  /** Whether that parent was sent by me (default: false for a reply, true for an update or delete). */
  parentIsSender?: boolean;
}

export interface LocationOptions extends SendOptions, FixMeta {}

/**
 * A see-me device: account, connections, the end-to-end envelope, the sharing
 * rule and the sync engine, talking Connect (or gRPC-web) to the gateway. Runs in
 * browsers and Node 20.
 */
export class SeeMeClient {
  readonly events = new Emitter<ClientEvents>();
  readonly storage: DeviceStorage;
  private readonly api: GatewayApi;
  private readonly now: () => Date;
  private readonly retry: RetryPolicy;
  private readonly engine: SyncEngine;
  /** The session in use; its expiry is checked before each call that needs it. */
  private session: { token: string; expiresAt: number } | undefined;
  private serverLimits: ServerLimits | undefined;
  private readonly retention: RetentionPolicy;
  private readonly staleAfterMs: number;
  private readonly rekeyAfterDays: number;
  private opened: Promise<void> | undefined;
  /** Set while the open/daily work runs: the sends it makes (due rotations) must not wait for it. */
  private inDaily = false;
  private pruneTimer: ReturnType<typeof setInterval> | undefined;
  /** Check-ins: HeldPacketService, and the last location sent (includeLastLocation). */
  private readonly checkIns: { held: CheckInDeps["held"]; lastLocation?: Omit<LocationUpdate, "sharing"> };

  constructor(options: SeeMeClientOptions) {
    this.storage = options.storage;
    this.now = options.now ?? (() => new Date());
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.rekeyAfterDays = options.rekeyAfterDays ?? DEFAULT_REKEY_AFTER_DAYS;
    const auth = bearerInterceptor(() => this.session?.token);
    if (!options.transport && !options.gatewayUrl)
      throw new ConnectError("gatewayUrl or transport is required", Code.InvalidArgument);
    const transport = options.transport
      ? options.transport(auth)
      : createGatewayTransport(options.gatewayUrl!, { protocol: options.protocol, interceptors: [auth] });
    this.api = createGatewayApi(transport);
    this.checkIns = { held: heldPacketClient(transport) };
    this.engine = new SyncEngine({
      storage: this.storage,
      location: this.api.location,
      limits: () => this.limits(),
      now: this.now,
      retry: this.retry,
      events: this.events,
      reauthenticate: () => {
        this.session = undefined;
        return this.signIn().then(() => undefined);
      },
      reconcile: async () => {
        for (const c of await handshake.reconcileConnections(this.handshakeDeps()))
          this.events.emit("connection", { connection: c.pairId, label: c.label, status: c.status });
      },
      present: (message, now) => this.present(message, now),
      receive: { rotationGraceMs: options.rotationGraceMs },
    });
  }

  // ---- lifecycle

  /**
   * Erases what the retention policy no longer keeps and starts the daily pruning. Every
   * other call does this on first use; `close()` stops the timer.
   */
  open(): Promise<void> {
    this.opened ??= (async () => {
      await this.daily();
      const timer = setInterval(
        () => void this.daily().catch((error: unknown) => this.events.emit("error", ConnectError.from(error))),
        DAY_MS,
      );
      // A CLI process must not stay alive for the pruning timer (browsers have no unref).
      (timer as { unref?: () => void }).unref?.();
      this.pruneTimer = timer;
    })();
    return this.opened;
  }

  /** Stops the daily pruning (a live stream is stopped through its own handle). */
  close(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = undefined;
    this.opened = undefined;
  }

  /** What runs on open and then daily: retention, and key rotations that are due. */
  private async daily(): Promise<void> {
    this.inDaily = true;
    try {
      await this.prune();
      await this.rotateDueKeys();
    } finally {
      this.inDaily = false;
    }
  }

  /**
   * Starts a key rotation (SPEC §8, docs/client.md "Key rotation") on every active connection whose
   * keys are `rekeyAfterDays` (80) old — before the server's `rekey_due` at 90 days — and none is
   * waiting. Queued only (offline first); the next Sync sends the offers. Runs on open and daily.
   */
  async rotateDueKeys(): Promise<string[]> {
    const state = await this.storage.read();
    const due = state.connections.filter(
      (c) =>
        c.status === "active" &&
        !c.pendingRotation &&
        this.now().getTime() - Date.parse(c.keysCreatedAt ?? c.createdAt) >= this.rekeyAfterDays * DAY_MS,
    );
    for (const connection of due) await this.rotateKeys(connection.pairId, { sync: false });
    return due.map((c) => c.pairId);
  }

  /**
   * Offers new connection keys to the peer, sealed and signed under the current ones; no QR scan.
   * The peer switches and answers with its own new keys; when that confirm arrives both sides use
   * the new keys, packets sealed to the old ones still open for the grace window (7 days), then the
   * old secrets are erased. Refused (FailedPrecondition) while a rotation of this connection waits.
   */
  async rotateKeys(ref: string, options: Omit<SendOptions, "to"> = {}): Promise<SendReport> {
    const fresh = newKeySet();
    const pairId = findConnection(await this.storage.read(), ref).pairId;
    return this.send({ ...options, to: pairId }, (state) => {
      if (findConnection(state, pairId).pendingRotation) {
        throw new ConnectError(
          "a key rotation of this connection is already waiting for the peer's confirm",
          Code.FailedPrecondition,
        );
      }
      return {
        payloads: [encodeRekey({ kind: "offer", keys: fresh.publicKeys })],
        location: false,
        apply: (next) => {
          next.connections.find((c) => c.pairId === pairId)!.pendingRotation = {
            ...fresh.secrets,
            startedAt: this.now().toISOString(),
          };
        },
      };
    });
  }

  /** Erases received locations and messages older than the retention policy keeps; returns how many went. */
  prune(): Promise<number> {
    return this.storage.update((state) => pruneState(state, this.now(), this.retention));
  }

  // ---- account

  /** Creates this device's account (a new Ed25519 key) and signs in. */
  async register(): Promise<string> {
    const account = await registerAccount(this.api, this.storage, (call) => withRetry(call, this.retry));
    await this.signIn();
    return account.accountId;
  }

  /** Starts a new session for the stored account; other calls do this on demand. */
  async signIn(): Promise<string> {
    const { account } = await this.storage.read();
    if (!account) throw new ConnectError("this device has no account yet: register first", Code.FailedPrecondition);
    const session = await withRetry(() => signInAccount(this.api, account), this.retry);
    await this.storage.update((state) => {
      state.session = session;
    });
    this.session = { token: session.token, expiresAt: Date.parse(session.expiresAt) };
    return account.accountId;
  }

  /** Erases the account on the server (its connections end; peers get 5/5) and forgets it here. */
  async deleteAccount(): Promise<void> {
    await this.authenticated(() => this.api.identity.deleteAccount({}));
    this.session = undefined;
    await this.storage.update((state) => {
      delete state.account;
      delete state.session;
      for (const connection of state.connections)
        if (connection.status !== "broken" && connection.status !== "expired")
          retireConnection(state, connection, "broken");
    });
  }

  async accountId(): Promise<string | undefined> {
    return (await this.storage.read()).account?.accountId;
  }

  /** Server limits (GatewayService.GetServerInfo), fetched once per client and kept in storage for offline sends. */
  async limits(): Promise<ServerLimits> {
    if (this.serverLimits) return this.serverLimits;
    const limits = await withRetry(async () => {
      const info = await this.api.gateway.getServerInfo({});
      return { maxBlobBytes: info.maxBlobBytes, maxPacketsPerSync: info.maxPacketsPerSync };
    }, this.retry);
    await this.storage.update((state) => {
      state.serverLimits = { ...limits, fetchedAt: this.now().toISOString() };
    });
    this.serverLimits = limits;
    return limits;
  }

  /** The limits a send checks against without any network call: the last ones fetched, else the documented defaults. */
  async knownLimits(): Promise<ServerLimits> {
    if (this.serverLimits) return this.serverLimits;
    const stored = (await this.storage.read()).serverLimits;
    return stored
      ? { maxBlobBytes: stored.maxBlobBytes, maxPacketsPerSync: stored.maxPacketsPerSync }
      : DEFAULT_SERVER_LIMITS;
  }

  // ---- the QR handshake (SPEC §3; see handshake.ts for the steps)

  /** Step 1 (A): my code for a new connection. */
  createOffer(label = "peer"): Promise<handshake.ShownCode> {
    return handshake.createOffer(this.handshakeDeps(), label);
  }

  /** Step 2 (B): scan A's code, show mine. */
  answerOffer(scanned: string, label = "peer"): Promise<handshake.ShownCode> {
    return handshake.answerOffer(this.handshakeDeps(), scanned, label);
  }

  /** Step 3 (A): scan B's code; returns the invite code to show B. */
  async initiate(scanned: string, offer?: string): Promise<handshake.ShownCode & { expireTime?: Date }> {
    return this.authenticated(() => handshake.initiate(this.handshakeDeps(), scanned, offer));
  }

  /** Step 4 (B): scan A's invite code; the connection is made. */
  async confirm(scanned: string): Promise<ConnectionView> {
    return view(await this.authenticated(() => handshake.confirm(this.handshakeDeps(), scanned)));
  }

  /** Any see-me code: answers, initiates or confirms as the code and my open codes call for. */
  async scan(
    scanned: string,
    label = "peer",
  ): Promise<
    { step: "answered" | "invited"; connection: string; qr: string } | { step: "confirmed"; connection: ConnectionView }
  > {
    const result = await this.authenticated(() => handshake.scan(this.handshakeDeps(), scanned, label));
    return result.step === "confirmed" ? { step: "confirmed", connection: view(result.connection) } : result;
  }

  async connections(): Promise<ConnectionView[]> {
    return (await this.storage.read()).connections.map(view);
  }

  async connection(ref: string): Promise<ConnectionView> {
    return view(findConnection(await this.storage.read(), ref));
  }

  /**
   * Which of this peer's statuses and texts reach me while my location is hidden (SPEC §8):
   * `urgent` (default) the danger statuses (I'm lost, I feel unsafe, I need urgent help, SOS) and
   * the sharing / notification notices; `all` everything; `none` only the notices.
   */
  async setStatusesWhileHidden(ref: string, setting: StatusesWhileHidden): Promise<ConnectionView> {
    if (!["urgent", "all", "none"].includes(setting))
      throw new ConnectError(`statusesWhileHidden must be urgent, all or none`, Code.InvalidArgument);
    return view(
      await this.storage.update((state) => {
        const connection = findConnection(state, ref);
        connection.statusesWhileHidden = setting;
        return connection;
      }),
    );
  }

  /** Breaks the connection `ref` names; says so (`alreadyEnded`) if it had already ended. */
  async breakConnection(ref: string): Promise<handshake.BreakResult> {
    return this.authenticated(() => handshake.breakConnection(this.handshakeDeps(), ref));
  }

  // ---- sending, under the sharing rule (SPEC §1)

  async sharing(): Promise<boolean> {
    return (await this.storage.read()).sharing;
  }

  /**
   * Turns my location sharing on or off and tells every active connection with a
   * status 1 / 0 (which carries the new flag): while off, I send no location and
   * drop the locations that arrive; my peers stop sending me theirs.
   */
  async setSharing(on: boolean, options: Omit<SendOptions, "to"> = {}): Promise<SendReport> {
    const status = on ? SimpleStatus.LocationSharingOn : SimpleStatus.LocationSharingOff;
    // The flag and the notice to every peer are one storage update: offline, the notice waits in
    // the outbox like any packet, and no peer keeps seeing "sharing on" after I turned it off.
    return this.send(options, () => ({
      payloads: [encodeStatus({ status, sharing: on, sentAt: this.now() })],
      location: false,
      apply: (state) => {
        state.sharing = on;
        // Locations queued before I turned sharing off must not go out after it.
        if (!on) withdrawQueuedLocations(state);
      },
    }));
  }

  /** Sends my location to every active connection (or `to`) whose sharing is on. Refused while my sharing is off. */
  async sendLocation(update: Omit<LocationUpdate, "sharing">, options: LocationOptions = {}): Promise<SendReport> {
    const { accuracyM, batteryPercent, ...sendOptions } = options;
    return this.send(sendOptions, (state) => {
      if (!state.sharing)
        throw new ConnectError("location sharing is off: turn it on to send your location", Code.FailedPrecondition);
      this.checkIns.lastLocation = update;
      return {
        payloads: [encodeLocation({ ...update, sharing: true })],
        location: true,
        meta: { accuracyM, batteryPercent },
      };
    });
  }

  async sendStatus(status: SimpleStatus, options: SendOptions = {}): Promise<SendReport> {
    return this.send(options, (state) => ({
      payloads: [encodeStatus({ status, sharing: state.sharing, sentAt: this.now() })],
      location: false,
    }));
  }

  /**
   * A text, split into as many 128-byte parts as it needs (consecutive packetIDs). Refused here
   * (ClientError): an empty text (`empty-text`); a reply, update or delete naming a message this
   * connection does not have (`unknown-parent`) — an update or delete only of a text I sent.
   * A message with a parent goes to one connection: `to`, or the only active one.
   */
  async sendText(message: string, options: TextOptions = {}): Promise<SendReport> {
    const kind = options.kind ?? (options.parentPacketId ? TextMessageKind.Reply : TextMessageKind.New);
    const edit = kind === TextMessageKind.Update || kind === TextMessageKind.Delete;
    const parentPacketId = options.parentPacketId ?? 0;
    const parentIsSender = options.parentIsSender ?? edit;
    if (kind !== TextMessageKind.Delete && message.trim() === "")
      throw new ClientError("empty-text", "a text needs some words: empty texts are not sent");
    if (edit && !parentIsSender)
      throw new ClientError("unknown-parent", "only a text I sent can be updated or deleted");
    if ((edit || kind === TextMessageKind.Reply) && parentPacketId === 0)
      throw new ClientError("unknown-parent", "a reply, update or delete names its message (parentPacketId)");
    let to = options.to;
    if (parentPacketId !== 0 && to === undefined) {
      const active = (await this.storage.read()).connections.filter((c) => c.status === "active");
      if (active.length !== 1)
        throw new ClientError("unknown-parent", "a reply, update or delete goes to one connection: name it with `to`");
      // Sent to that one connection by name, so an unknown parent refuses the send instead of being a per-connection failure.
      to = active[0].pairId;
    }
    return this.send({ ...options, to }, (state) => ({
      payloads: splitText(message, { kind, sharing: state.sharing, parentPacketId, parentIsSender }),
      location: false,
      check: (current, connection) => {
        if (parentPacketId === 0) return;
        const known = parentIsSender
          ? (current.sentTexts ?? []).some((t) => t.connection === connection.pairId && t.packetId === parentPacketId)
          : current.inbox.some(
              (m) => m.kind !== "server" && m.connection === connection.pairId && m.packetId === parentPacketId,
            );
        if (!known)
          throw new ClientError(
            "unknown-parent",
            `message ${parentPacketId} is not one ${parentIsSender ? "I sent to" : "received from"} "${connection.label}"`,
          );
      },
      record: (current, connection, packetIds) => {
        current.sentTexts ??= [];
        const texts = current.sentTexts;
        const parent = texts.findIndex((t) => t.connection === connection.pairId && t.packetId === parentPacketId);
        if (kind === TextMessageKind.Delete) {
          if (parent >= 0) texts.splice(parent, 1);
        } else if (kind === TextMessageKind.Update) {
          if (parent >= 0) texts[parent].message = message;
        } else {
          texts.push({
            connection: connection.pairId,
            packetId: packetIds[0],
            textKind: kind,
            message,
            sentAt: this.now().toISOString(),
          });
        }
      },
    }));
  }

  /** Shares a place as a text (sub-type 5); it is a text, so it flows whatever either side's sharing. */
  async sendPin(pin: LocationPin, options: SendOptions = {}): Promise<SendReport> {
    return this.sendText(encodePinBody(pin), { ...options, kind: TextMessageKind.LocationPin });
  }

  // ---- check-in (check-in.ts)

  /** Seals a message (and a location) now; the relay releases it to `to` at `until` unless cancelled or extended. */
  async checkIn(options: CheckInOptions): Promise<CheckIn> {
    return checkIn(this.checkInDeps(), options);
  }

  /** Moves a check-in's release time, before it passed. */
  async extendCheckIn(handle: CheckIn, until: Date): Promise<CheckIn> {
    return extendCheckIn(this.checkInDeps(), handle, until);
  }

  /** Cancels a check-in before its release: the recipient never sees it. */
  async cancelCheckIn(handle: CheckIn): Promise<void> {
    return cancelCheckIn(this.checkInDeps(), handle);
  }

  private checkInDeps(): CheckInDeps {
    return {
      storage: this.storage,
      location: this.api.location,
      held: this.checkIns.held,
      maxBlobBytes: async () => (await this.limits()).maxBlobBytes,
      authenticated: (call) => this.authenticated(call),
      now: this.now,
      lastLocation: this.checkIns.lastLocation,
    };
  }

  // ---- receiving

  /** One full exchange with the relay: send the outbox, acknowledge, fetch. */
  async sync(): Promise<SyncReport> {
    await this.open();
    await this.ensureSession();
    return this.engine.sync();
  }

  /** Keeps a Subscribe stream open for live delivery until `stop()`. */
  async startLive(): Promise<LiveHandle> {
    await this.open();
    await this.ensureSession();
    return this.engine.startLive();
  }

  /**
   * Persisted messages, oldest first; `after` a sequence number to get only newer ones. Each
   * carries its `age` (seconds since sent) and, for locations, `stale` as of now.
   */
  async inbox(after = 0): Promise<InboxMessage[]> {
    await this.open();
    const now = this.now();
    return (await this.storage.read()).inbox
      .filter((message) => message.seq > after)
      .map((message) => this.present(message, now));
  }

  // ---- Web Push (browsers; the service worker side is push-handler.ts)

  /** The server's VAPID key for `pushManager.subscribe({ applicationServerKey })`; empty when the server has no push. */
  async pushPublicKey(): Promise<string> {
    return (await this.authenticated(() => this.api.push.getPushConfig({}))).vapidPublicKey;
  }

  /**
   * Registers this browser's push subscription (`subscription.toJSON()`) for the
   * current session; it ends with the session, so call it again whenever the app
   * starts (push-handler.ts also does after each wake-up).
   */
  async registerPush(subscription: {
    endpoint: string;
    keys: { p256dh: string; auth: string };
  }): Promise<Date | undefined> {
    const { endpoint, keys } = subscription;
    const { expireTime } = await this.authenticated(() =>
      this.api.push.registerPushSubscription({ endpoint, p256dh: keys.p256dh, auth: keys.auth }),
    );
    return expireTime ? new Date(Number(expireTime.seconds) * 1000) : undefined;
  }

  /** Removes this browser's push subscription (on sign-out). */
  async unregisterPush(endpoint: string): Promise<void> {
    await this.authenticated(() => this.api.push.unregisterPushSubscription({ endpoint }));
  }

  /** `message` with its `age` and `stale` as of `now`. */
  present(message: InboxMessage, now: Date = this.now()): InboxMessage {
    if (message.sentAt === undefined) return message;
    const ageMs = now.getTime() - Date.parse(message.sentAt);
    return {
      ...message,
      age: Math.round(ageMs / 1000),
      stale: message.kind === "location" && ageMs > this.staleAfterMs,
    };
  }

  /**
   * Offline first: the packets are sealed against the state as read, then queued in one storage
   * update (with whatever `apply` changes) before any network call; only the limits last learned
   * from the server (or the documented defaults) are checked. A send never fails because the
   * network is down: the report says `queued` and the next Sync takes the packets.
   */
  private async send(options: SendOptions, build: (state: DeviceState) => SendPlan): Promise<SendReport> {
    if (!this.inDaily) await this.open();
    const { maxBlobBytes } = await this.knownLimits();
    let report: SendReport | undefined;
    for (let attempt = 0; !report; attempt++) {
      if (attempt >= MAX_COMMIT_ATTEMPTS)
        throw new ConnectError("the device state kept changing while queueing; try again", Code.Aborted);
      const state = await this.storage.read();
      const now = this.now();
      const plan = build(state);
      const result: SendReport = { sent: [], withheld: [], failed: [], outcome: "queued" };
      const sealed: Array<{ connection: StoredConnection; packets: OutboxPacket[] }> = [];
      for (const connection of sendTargets(
        state,
        options.to === undefined ? undefined : findConnection(state, options.to),
      )) {
        // "If you can't see me, I can't see you": no location to a peer whose last packet said sharing off.
        if (plan.location && !connection.peerSharing) {
          result.withheld.push({ connection: connection.pairId, label: connection.label });
          continue;
        }
        try {
          plan.check?.(state, connection);
          sealed.push({
            connection,
            packets: await sealPayloads(connection, plan.payloads, maxBlobBytes, now, plan.meta),
          });
        } catch (error) {
          // A send to one named connection fails as a whole; a broadcast (an SOS above all) still reaches the others.
          if (options.to !== undefined) throw error;
          const failure = error instanceof ClientError ? error : ConnectError.from(error);
          result.failed.push({
            connection: connection.pairId,
            label: connection.label,
            code: failure.code,
            message: failure.rawMessage,
          });
        }
      }
      try {
        report = await this.storage.update((next) => {
          // Every payload carries my sharing flag as read: if it changed meanwhile, seal again.
          if (!plan.apply && next.sharing !== state.sharing) throw new QueueConflict();
          // Sealed under keys a rotation has since replaced: seal again under the new ones.
          for (const { connection } of sealed) {
            const now = next.connections.find((c) => c.pairId === connection.pairId);
            if (
              now &&
              (now.signingSecretKey !== connection.signingSecretKey ||
                now.peerEncryptionPublicKey !== connection.peerEncryptionPublicKey)
            )
              throw new QueueConflict();
          }
          for (const { connection, packets } of sealed) {
            if (!commitPackets(next, connection.pairId, connection.lastPacketId, packets)) throw new QueueConflict();
            const ids = packets.map((packet) => packet.packetId);
            plan.record?.(next, next.connections.find((c) => c.pairId === connection.pairId)!, ids);
            result.sent.push({ connection: connection.pairId, label: connection.label, packetIds: ids });
          }
          plan.apply?.(next);
          return result;
        });
      } catch (error) {
        if (!(error instanceof QueueConflict)) throw error;
      }
    }
    if (options.sync !== false) {
      // The packets are queued with their packetIDs: a failed Sync only delays them.
      try {
        await this.sync();
      } catch (error) {
        const failure = error instanceof ClientError ? error : withCause(error);
        report.syncError = { code: failure.code, message: failure.rawMessage };
      }
      const left = new Set((await this.storage.read()).outbox.map((packet) => `${packet.pairId}/${packet.packetId}`));
      const sentTo = new Map(report.sent.map((s) => [s.connection, s]));
      const { connections } = await this.storage.read();
      const waiting = [...sentTo.values()].some((s) => {
        const peer = connections.find((c) => c.pairId === s.connection)?.peerPairId;
        return s.packetIds.some((id) => left.has(`${peer}/${id}`));
      });
      report.outcome = waiting ? "queued" : "stored";
    }
    return report;
  }

  /** A session still valid for a minute (held, or stored by another process) is reused; otherwise a new one is made. */
  private async ensureSession(): Promise<void> {
    const fresh = (expiresAt: number) => expiresAt - 60_000 > this.now().getTime();
    if (this.session && fresh(this.session.expiresAt)) return;
    // A stale token is not sent along with the sign-in.
    this.session = undefined;
    const { session } = await this.storage.read();
    if (session && fresh(Date.parse(session.expiresAt)))
      this.session = { token: session.token, expiresAt: Date.parse(session.expiresAt) };
    else await this.signIn();
  }

  /**
   * Runs `call` with a session, retrying `Unavailable` and network failures with backoff and jitter
   * (every call made this way is safe to repeat: initiate returns the invite it made, a confirm
   * that landed is found in the server's list, a break of what is gone is NotFound); if the server
   * refuses the session (revoked, expired early), signs in again once and retries.
   */
  private async authenticated<T>(call: () => Promise<T>): Promise<T> {
    await this.ensureSession();
    try {
      return await withRetry(call, this.retry);
    } catch (error) {
      if (error instanceof ClientError || ConnectError.from(error).code !== Code.Unauthenticated) throw error;
      this.session = undefined;
      await this.signIn();
      return withRetry(call, this.retry);
    }
  }

  private handshakeDeps(): handshake.HandshakeDeps {
    return {
      storage: this.storage,
      api: this.api,
      now: this.now,
      accountSecretKey: async () => {
        const { account } = await this.storage.read();
        if (!account) throw new ConnectError("this device has no account yet: register first", Code.FailedPrecondition);
        return importAccountKeyPair(fromBase64(account.secretKey)).secretKey;
      },
    };
  }
}

function view(connection: StoredConnection): ConnectionView {
  const { pairId, peerPairId, label, role, status, peerSharing, createdAt } = connection;
  return {
    connection: pairId,
    peerPairId,
    label,
    role,
    status,
    peerSharing,
    statusesWhileHidden: connection.statusesWhileHidden ?? "urgent",
    createdAt,
  };
}
