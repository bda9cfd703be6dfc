import { useEffect, useState } from "preact/hooks";
import { ConnectError } from "@connectrpc/connect";
import {
  SeeMeClient,
  SimpleStatus,
  TextMessageKind,
  decodePinBody,
  type ConnectionView,
  type InboxMessage,
  type LiveHandle,
  type LocationPin,
} from "@seeme/client";
import { STATUS_NAMES } from "./names.js";
import { AppStore, IndexedDbStorage, openDatabase } from "./idb-storage.js";
import { LocationPolicy, type Fix } from "./location-policy.js";

/*
 * The app's one store. State lives in the SDK (keys, connections, inbox) and
 * is re-read from it whenever the SDK reports a change; the store adds only
 * what the SDK does not keep: the texts I sent, my name, which alerts were
 * acknowledged, and the live stream's state. Screens render it.
 */

export interface SentText {
  connection: string;
  /** The packetID of part 1: the message's id for replies. */
  packetId: number;
  packetIds: number[];
  kind: number;
  text: string;
  parentPacketId: number;
  parentIsSender: boolean;
  at: number;
  stored: boolean;
  delivered: boolean;
}

export type LiveState = "connecting" | "live" | "reconnecting";

export interface AppState {
  phase: "loading" | "welcome" | "ready" | "failed";
  failure?: string;
  myName: string;
  sharing: boolean;
  connections: ConnectionView[];
  inbox: InboxMessage[];
  sent: SentText[];
  live: LiveState;
  online: boolean;
  /** Danger statuses up to this inbox seq were acknowledged. */
  alertsAckedThrough: number;
  /** Server messages up to this inbox seq were dismissed. */
  bannersDismissedThrough: number;
  myFix?: Fix;
  /** A short message for the person (what just happened or failed). */
  notice?: string;
  now: number;
}

/** Statuses that take the whole screen on the receiving phone. */
export const ALERT_STATUSES: readonly number[] = [
  SimpleStatus.ImLost,
  SimpleStatus.IFeelUnsafe,
  SimpleStatus.INeedUrgentHelp,
  SimpleStatus.Sos,
];

export interface AppConfig {
  tileUrl: string;
  tileAttribution: string;
}

const DEFAULT_CONFIG: AppConfig = {
  tileUrl: "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
  tileAttribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
};

type Listener = (state: AppState) => void;

const NOTICE_MS = 8000;

export class SeeMe {
  state: AppState = {
    phase: "loading",
    myName: "",
    sharing: true,
    connections: [],
    inbox: [],
    sent: [],
    live: "connecting",
    online: navigator.onLine,
    alertsAckedThrough: 0,
    bannersDismissedThrough: 0,
    now: Date.now(),
  };
  config: AppConfig = DEFAULT_CONFIG;
  client!: SeeMeClient;
  private app!: AppStore;
  private readonly listeners = new Set<Listener>();
  private live: LiveHandle | undefined;
  private watchId: number | undefined;
  private readonly policy = new LocationPolicy();
  private heldFix: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<void> | undefined;

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(change: Partial<AppState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener(this.state);
  }

  async start(): Promise<void> {
    try {
      this.config = await fetch("/config.json")
        .then((response) => (response.ok ? (response.json() as Promise<Partial<AppConfig>>) : {}))
        .then((config) => ({ ...DEFAULT_CONFIG, ...config }))
        .catch(() => DEFAULT_CONFIG);
      const db = await openDatabase();
      this.app = new AppStore(db);
      this.client = new SeeMeClient({
        storage: new IndexedDbStorage(db),
        gatewayUrl: location.origin,
        protocol: "connect",
      });
      this.wireEvents();
      const [myName, sent, acked, dismissed] = await Promise.all([
        this.app.get<string>("myName"),
        this.app.get<SentText[]>("sent"),
        this.app.get<number>("alertsAckedThrough"),
        this.app.get<number>("bannersDismissedThrough"),
      ]);
      this.set({
        myName: myName ?? "",
        sent: sent ?? [],
        alertsAckedThrough: acked ?? 0,
        bannersDismissedThrough: dismissed ?? 0,
      });
      await this.refresh();
      if (await this.client.accountId()) await this.ready();
      else this.set({ phase: "welcome" });
    } catch (error) {
      this.set({ phase: "failed", failure: describe(error) });
    }
    setInterval(() => this.set({ now: Date.now() }), 20_000);
  }

  /** First run: a new account key (kept in IndexedDB) and the name I go by. */
  async createDevice(name: string): Promise<void> {
    await this.app.set("myName", name);
    this.set({ myName: name });
    await this.client.register();
    await this.ready();
  }

  private async ready(): Promise<void> {
    this.set({ phase: "ready" });
    // The server limits are needed to queue a packet: fetched now, an SOS can be queued offline later.
    void this.client.limits().catch(() => undefined);
    addEventListener("online", () => {
      this.set({ online: true });
      // Whatever was queued while offline goes out now; the live stream reconnects on its own.
      void this.client.sync().catch(() => undefined);
    });
    addEventListener("offline", () => this.set({ online: false }));
    this.startLive();
    this.updateWatch();
  }

  private startLive(): void {
    this.set({ live: "connecting" });
    this.client.startLive().then(
      (handle) => {
        this.live = handle;
      },
      () => {
        this.set({ live: "reconnecting" });
        setTimeout(() => this.startLive(), 3000);
      },
    );
  }

  private wireEvents(): void {
    const events = this.client.events;
    events.on("message", (message) => {
      void this.refresh();
      // Everyday statuses ("on my way home") show as a notice; the alarming ones take the screen (AlertOverlay).
      if (message.kind === "status" && message.status >= SimpleStatus.ImOk) {
        const name = this.state.connections.find((c) => c.connection === message.connection)?.label ?? "Someone";
        this.notify(`${name}: ${STATUS_NAMES[message.status]}`);
      }
    });
    events.on("connection", (change) => {
      void this.refresh().then(() => this.updateWatch());
      if (change.status === "broken") this.notify(`${change.label}: the connection has ended.`);
    });
    events.on("live", (up) => this.set({ live: up ? "live" : "reconnecting" }));
    events.on("stored", ({ peerPairId, packetIds }) => void this.markSent(peerPairId, packetIds, "stored"));
    events.on("delivered", ({ peerPairId, packetIds }) => void this.markSent(peerPairId, packetIds, "delivered"));
  }

  /** Re-reads the SDK's state; calls during a read share it and one more read follows. */
  async refresh(): Promise<void> {
    const run = async () => {
      const [connections, inbox, sharing] = await Promise.all([
        this.client.connections(),
        this.client.inbox(),
        this.client.sharing(),
      ]);
      this.set({ connections, inbox, sharing });
    };
    this.refreshing = (this.refreshing ?? Promise.resolve()).then(run, run);
    return this.refreshing;
  }

  private async markSent(peerPairId: string, packetIds: number[], what: "stored" | "delivered"): Promise<void> {
    const connection = this.state.connections.find((c) => c.peerPairId === peerPairId)?.connection;
    if (!connection) return;
    const ids = new Set(packetIds);
    const sent = this.state.sent.map((text) =>
      text.connection === connection && text.packetIds.some((id) => ids.has(id))
        ? { ...text, stored: true, delivered: text.delivered || what === "delivered" }
        : text,
    );
    this.set({ sent });
    await this.app.set("sent", sent);
  }

  // ---- pairing (SPEC §3)

  async showMyCode(label: string): Promise<string> {
    return (await this.client.createOffer(label)).qr;
  }

  /** Any scanned or pasted code: answers, initiates or confirms as the step calls for. */
  async useCode(
    code: string,
    label: string,
  ): Promise<{ step: "answered" | "invited" | "confirmed"; connection: string; qr?: string }> {
    const result = await this.client.scan(code, label);
    await this.refresh();
    this.updateWatch();
    if (result.step === "confirmed") return { step: "confirmed", connection: result.connection.connection };
    return { step: result.step, connection: result.connection, qr: result.qr };
  }

  /** Connections still being made are dropped when the person starts over. */
  async cancelPairing(): Promise<void> {
    await this.client.storage.update((state) => {
      state.connections = state.connections.filter((c) => c.status !== "offered" && c.status !== "answered");
    });
    await this.refresh();
  }

  async rename(connection: string, label: string): Promise<void> {
    await this.client.storage.update((state) => {
      const found = state.connections.find((c) => c.pairId === connection);
      if (found) found.label = label;
    });
    await this.refresh();
  }

  async breakConnection(connection: string): Promise<void> {
    await this.client.breakConnection(connection);
    await this.refresh();
    this.updateWatch();
  }

  // ---- sending

  async setSharing(on: boolean): Promise<void> {
    await this.client.setSharing(on);
    await this.refresh();
    this.updateWatch();
  }

  /**
   * A status to everyone. SOS and the other alerts carry my last location: as a
   * location while I share it, otherwise as a pin (a deliberate call for help
   * says where I am even while I hide my position).
   */
  async sendStatus(status: number): Promise<string> {
    const carriesLocation = ALERT_STATUSES.includes(status);
    const fix = this.state.myFix;
    if (carriesLocation && fix) {
      // Queued only: the status's own Sync takes both, so an offline SOS queues at once.
      if (this.state.sharing) await this.sendFix(fix, { force: true, sync: false });
      else
        await this.client.sendPin(
          { latitude: fix.latitude, longitude: fix.longitude, label: "My last location" },
          { sync: false },
        );
    }
    const report = await this.client.sendStatus(status as SimpleStatus);
    const names = report.sent.map((s) => s.label).join(", ");
    if (report.syncError) return "Queued: it goes out as soon as the network is back.";
    return names ? `Sent to ${names}.` : "Nobody to send to yet: add someone first.";
  }

  async sendText(connection: string, text: string, reply?: { packetId: number; mine: boolean }): Promise<void> {
    const kind = reply ? TextMessageKind.Reply : TextMessageKind.New;
    const report = await this.client.sendText(text, {
      to: connection,
      parentPacketId: reply?.packetId,
      parentIsSender: reply?.mine ?? false,
    });
    await this.recordSent(
      connection,
      report.sent[0]?.packetIds ?? [],
      kind,
      text,
      reply,
      report.syncError === undefined,
    );
  }

  async sendPin(connection: string, pin: LocationPin): Promise<void> {
    const report = await this.client.sendPin(pin, { to: connection });
    const body = `${pin.latitude.toFixed(5)},${pin.longitude.toFixed(5)} ${pin.label}`;
    await this.recordSent(
      connection,
      report.sent[0]?.packetIds ?? [],
      TextMessageKind.LocationPin,
      body,
      undefined,
      report.syncError === undefined,
    );
  }

  private async recordSent(
    connection: string,
    packetIds: number[],
    kind: number,
    text: string,
    reply: { packetId: number; mine: boolean } | undefined,
    stored: boolean,
  ) {
    if (!packetIds.length) return;
    const entry: SentText = {
      connection,
      packetId: packetIds[0],
      packetIds,
      kind,
      text,
      parentPacketId: reply?.packetId ?? 0,
      parentIsSender: reply?.mine ?? false,
      at: Date.now(),
      stored,
      delivered: false,
    };
    const sent = [...this.state.sent, entry];
    this.set({ sent });
    await this.app.set("sent", sent);
  }

  async acknowledgeAlerts(): Promise<void> {
    const through = Math.max(0, ...this.state.inbox.map((m) => m.seq));
    this.set({ alertsAckedThrough: through });
    await this.app.set("alertsAckedThrough", through);
  }

  async dismissBanners(): Promise<void> {
    const through = Math.max(0, ...this.state.inbox.map((m) => m.seq));
    this.set({ bannersDismissedThrough: through });
    await this.app.set("bannersDismissedThrough", through);
  }

  /** A short notice; it goes away by itself after a while. */
  notify(notice: string | undefined): void {
    this.set({ notice });
    if (notice) setTimeout(() => this.state.notice === notice && this.set({ notice: undefined }), NOTICE_MS);
  }

  // ---- my location

  /** Watches my position while I share it with at least one active connection. */
  private updateWatch(): void {
    const wanted =
      this.state.sharing && this.state.connections.some((c) => c.status === "active") && "geolocation" in navigator;
    if (wanted && this.watchId === undefined) {
      this.watchId = navigator.geolocation.watchPosition(
        (position) =>
          void this.onFix({
            latitude: position.coords.latitude,
            longitude: position.coords.longitude,
            accuracy: position.coords.accuracy,
            speed: position.coords.speed,
            time: position.timestamp || Date.now(),
          }),
        (error) => {
          // A fix that is late or briefly unavailable comes later by itself; only a refusal needs the person.
          if (error.code === error.PERMISSION_DENIED)
            this.notify("see-me may not use your location: allow it in the browser's site settings.");
        },
        { enableHighAccuracy: true, maximumAge: 10_000 },
      );
    } else if (!wanted && this.watchId !== undefined) {
      navigator.geolocation.clearWatch(this.watchId);
      this.watchId = undefined;
    }
  }

  private async onFix(fix: Fix): Promise<void> {
    this.set({ myFix: fix });
    await this.sendFix(fix, { force: false });
  }

  private async sendFix(fix: Fix, options: { force: boolean; sync?: boolean }): Promise<void> {
    const decision = this.policy.decide(fix);
    if (!options.force && !decision.send) {
      // A move held back by the rate limit goes out when the next slot opens.
      if (decision.movement !== 1 && this.heldFix === undefined) {
        this.heldFix = setTimeout(
          () => {
            this.heldFix = undefined;
            if (this.state.myFix) void this.sendFix(this.state.myFix, { force: false });
          },
          Math.max(1000, this.policy.nextSlot(Date.now()) - Date.now()),
        );
      }
      return;
    }
    if (!this.state.sharing) return;
    try {
      await this.client.sendLocation(
        { movement: decision.movement, latitude: fix.latitude, longitude: fix.longitude, speedKmh: decision.speedKmh },
        { sync: options.sync },
      );
      this.policy.sentFix(fix);
    } catch (error) {
      this.notify(`Your location could not be queued: ${describe(error)}`);
    }
  }

  stop(): void {
    void this.live?.stop();
  }
}

export function describe(error: unknown): string {
  if (error instanceof ConnectError) return error.rawMessage;
  return error instanceof Error ? error.message : String(error);
}

/** The text of a received message as a person reads it (pins decoded). */
export function pinOf(message: InboxMessage): LocationPin | undefined {
  if (message.kind !== "text" || message.textKind !== TextMessageKind.LocationPin) return undefined;
  try {
    return decodePinBody(message.message);
  } catch {
    return undefined;
  }
}

export const seeMe = new SeeMe();

export function useAppState(): AppState {
  const [state, setState] = useState(seeMe.state);
  useEffect(() => seeMe.subscribe(setState), []);
  return state;
}
