import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { registerAccount, signInAccount } from "./account.js";
import { bearerInterceptor, createGatewayApi, createGatewayTransport, type GatewayApi, type GatewayProtocol } from "./api.js";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "./backoff.js";
import type { ClientEvents } from "./client-events.js";
import { cancelCheckIn, checkIn, extendCheckIn, heldPacketClient, type CheckIn, type CheckInDeps, type CheckInOptions } from "./check-in.js";
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
import { queuePayloads, sendTargets, type SendReport } from "./outgoing.js";
import type { DeviceState, DeviceStorage, InboxMessage, StoredConnection } from "./storage.js";
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
}

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
  /** Whether that parent was sent by me. */
  parentIsSender?: boolean;
}

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
  /** Check-ins: HeldPacketService, and the last location sent (includeLastLocation). */
  private readonly checkIns: { held: CheckInDeps["held"]; lastLocation?: Omit<LocationUpdate, "sharing"> };

  constructor(options: SeeMeClientOptions) {
    this.storage = options.storage;
    this.now = options.now ?? (() => new Date());
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    const auth = bearerInterceptor(() => this.session?.token);
    if (!options.transport && !options.gatewayUrl) throw new ConnectError("gatewayUrl or transport is required", Code.InvalidArgument);
    const transport = options.transport ? options.transport(auth) : createGatewayTransport(options.gatewayUrl!, { protocol: options.protocol, interceptors: [auth] });
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
      reconcile: () => handshake.reconcileConnections(this.handshakeDeps()),
    });
  }

  // ---- account

  /** Creates this device's account (a new Ed25519 key) and signs in. */
  async register(): Promise<string> {
    const account = await registerAccount(this.api, this.storage);
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
      for (const connection of state.connections) if (connection.status !== "broken" && connection.status !== "expired") retireConnection(state, connection, "broken");
    });
  }

  async accountId(): Promise<string | undefined> {
    return (await this.storage.read()).account?.accountId;
  }

  /** Server limits (GatewayService.GetServerInfo), fetched once. */
  async limits(): Promise<ServerLimits> {
    this.serverLimits ??= await withRetry(async () => {
      const info = await this.api.gateway.getServerInfo({});
      return { maxBlobBytes: info.maxBlobBytes, maxPacketsPerSync: info.maxPacketsPerSync };
    }, this.retry);
    return this.serverLimits;
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
  async scan(scanned: string, label = "peer"): Promise<{ step: "answered" | "invited"; connection: string; qr: string } | { step: "confirmed"; connection: ConnectionView }> {
    const result = await this.authenticated(() => handshake.scan(this.handshakeDeps(), scanned, label));
    return result.step === "confirmed" ? { step: "confirmed", connection: view(result.connection) } : result;
  }

  async connections(): Promise<ConnectionView[]> {
    return (await this.storage.read()).connections.map(view);
  }

  async connection(ref: string): Promise<ConnectionView> {
    return view(findConnection(await this.storage.read(), ref));
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
    await this.storage.update((state) => {
      state.sharing = on;
      // Locations queued before I turned sharing off must not go out after it.
      if (!on) withdrawQueuedLocations(state);
    });
    return this.sendStatus(on ? SimpleStatus.LocationSharingOn : SimpleStatus.LocationSharingOff, options);
  }

  /** Sends my location to every active connection (or `to`) whose sharing is on. Refused while my sharing is off. */
  async sendLocation(update: Omit<LocationUpdate, "sharing">, options: SendOptions = {}): Promise<SendReport> {
    return this.send(options, (state) => {
      if (!state.sharing) throw new ConnectError("location sharing is off: turn it on to send your location", Code.FailedPrecondition);
      this.checkIns.lastLocation = update;
      return { payloads: [encodeLocation({ ...update, sharing: true })], location: true };
    });
  }

  async sendStatus(status: SimpleStatus, options: SendOptions = {}): Promise<SendReport> {
    return this.send(options, (state) => ({ payloads: [encodeStatus({ status, sharing: state.sharing, sentAt: this.now() })], location: false }));
  }

  /** A text, split into as many 128-byte parts as it needs (consecutive packetIDs). */
  async sendText(message: string, options: TextOptions = {}): Promise<SendReport> {
    return this.send(options, (state) => ({
      payloads: splitText(message, {
        kind: options.kind ?? (options.parentPacketId ? TextMessageKind.Reply : TextMessageKind.New),
        sharing: state.sharing,
        parentPacketId: options.parentPacketId ?? 0,
        parentIsSender: options.parentIsSender ?? false,
      }),
      location: false,
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
      retry: this.retry,
      now: this.now,
      lastLocation: this.checkIns.lastLocation,
    };
  }

  // ---- receiving

  /** One full exchange with the relay: send the outbox, acknowledge, fetch. */
  async sync(): Promise<SyncReport> {
    await this.ensureSession();
    return this.engine.sync();
  }

  /** Keeps a Subscribe stream open for live delivery until `stop()`. */
  async startLive(): Promise<LiveHandle> {
    await this.ensureSession();
    return this.engine.startLive();
  }

  /** Persisted messages, oldest first; `after` a sequence number to get only newer ones. */
  async inbox(after = 0): Promise<InboxMessage[]> {
    return (await this.storage.read()).inbox.filter((message) => message.seq > after);
  }

  private async send(options: SendOptions, build: (state: DeviceState) => { payloads: string[]; location: boolean }): Promise<SendReport> {
    const { maxBlobBytes } = await this.limits();
    const now = this.now();
    const report = await this.storage.update((state) => {
      const { payloads, location } = build(state);
      const result: SendReport = { sent: [], withheld: [], failed: [] };
      for (const connection of sendTargets(state, options.to === undefined ? undefined : findConnection(state, options.to))) {
        // "If you can't see me, I can't see you": no location to a peer whose last packet said sharing off.
        if (location && !connection.peerSharing) {
          result.withheld.push({ connection: connection.pairId, label: connection.label });
          continue;
        }
        try {
          result.sent.push({ connection: connection.pairId, label: connection.label, packetIds: queuePayloads(state, connection, payloads, maxBlobBytes, now) });
        } catch (error) {
          // A send to one named connection fails as a whole; a broadcast (an SOS above all) still reaches the others.
          if (options.to !== undefined) throw error;
          const failure = error instanceof ClientError ? error : ConnectError.from(error);
          result.failed.push({ connection: connection.pairId, label: connection.label, code: failure.code, message: failure.rawMessage });
        }
      }
      return result;
    });
    if (options.sync !== false) {
      // The packets are queued with their packetIDs: a failed Sync only delays them.
      try {
        await this.sync();
      } catch (error) {
        const failure = error instanceof ClientError ? error : ConnectError.from(error);
        report.syncError = { code: failure.code, message: failure.rawMessage };
      }
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
    if (session && fresh(Date.parse(session.expiresAt))) this.session = { token: session.token, expiresAt: Date.parse(session.expiresAt) };
    else await this.signIn();
  }

  /** Runs `call` with a session; if the server refuses the session (revoked, expired early), signs in again once and retries. */
  private async authenticated<T>(call: () => Promise<T>): Promise<T> {
    await this.ensureSession();
    try {
      return await call();
    } catch (error) {
      if (error instanceof ClientError || ConnectError.from(error).code !== Code.Unauthenticated) throw error;
      this.session = undefined;
      await this.signIn();
      return call();
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
  return { connection: pairId, peerPairId, label, role, status, peerSharing, createdAt };
}
