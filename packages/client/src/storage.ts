import type { ReplayGuardSnapshot } from "./replay-guard.js";

/*
 * What a device keeps between runs. The state is one JSON-safe document (keys as
 * base64), changed only through `update`, which applies a change atomically: a
 * packet is never half-queued and a received message is never persisted without
 * its replay-guard entry. Apps with a real database can implement `DeviceStorage`
 * over it; `MemoryStorage` (here) and `FileStorage` (`@seeme/client/file-storage`,
 * Node only) are the two built in.
 */

export const STATE_VERSION = 1;

export interface StoredAccount {
  accountId: string;
  /** The Ed25519 account seed, base64. */
  secretKey: string;
}

/**
 * One side of a connection, through the QR handshake (SPEC §3):
 * - `offered`: my code is shown, the peer's is not yet scanned (the future initiator, A);
 * - `answered`: I scanned the peer's code and show mine; waiting for their invite (B);
 * - `invited`: A scanned B's code and the server accepted the invite; waiting for B's confirm;
 * - `active`: confirmed (B: by ConfirmConnection; A: by the 5/3 notice or B's first packet);
 * - `expired`: the invite expired unconfirmed (5/4); `broken`: either side broke it (5/5).
 */
export type ConnectionStatus = "offered" | "answered" | "invited" | "active" | "expired" | "broken";

export interface StoredConnection {
  /** My pairID on this connection: where the peer sends. Also the connection's local id. */
  pairId: string;
  /** The peer's pairID: where I send. Known once the peer's code is scanned. */
  peerPairId?: string;
  /** A name the user gave it ("Mum's phone"); local only. */
  label: string;
  role: "initiator" | "recipient";
  status: ConnectionStatus;
  /** My connection secret keys (Ed25519 signing seed, X25519 secret), base64. */
  signingSecretKey: string;
  encryptionSecretKey: string;
  /** The peer's connection public keys, base64, only ever from their QR code. */
  peerSigningPublicKey?: string;
  peerEncryptionPublicKey?: string;
  /** The invite QR text A shows B (kept so it can be shown again). */
  inviteQr?: string;
  /** The last packetID I assigned to a packet for the peer (packetIDs increase per recipient pairID). */
  lastPacketId: number;
  /** Packets from the peer accepted so far (replays are refused). */
  replay: ReplayGuardSnapshot;
  /** The sharing flag on the peer's latest packet: false means they get no location from me. */
  peerSharing: boolean;
  /**
   * The packetID `peerSharing` was read from: packets may be processed out of
   * order (a resend, a Subscribe push beside a Sync page), and only a newer
   * packet may change the flag. Missing until the first packet from the peer.
   */
  peerSharingPacketId?: number;
  /**
   * Which of this peer's statuses and texts reach me while my location is hidden (my sharing off):
   * `urgent` (default when missing) only the danger statuses (I'm lost, I feel unsafe, I need urgent
   * help, SOS) and the sharing/notification notices; `all` everything; `none` only those notices.
   */
  statusesWhileHidden?: StatusesWhileHidden;
  /** When my current keys were made (missing: at `createdAt`); key rotation is due 80 days after. */
  keysCreatedAt?: string;
  /** My keys before the last rotation, kept until `until` so packets sealed to them still open, then erased. */
  previousKeys?: StoredKeySecrets & { until: string };
  /** The peer's public keys before the last rotation, kept as long. */
  previousPeerKeys?: { signingPublicKey: string; encryptionPublicKey: string; until: string };
  /** A rotation I started: my new secrets, waiting for the peer's confirm. */
  pendingRotation?: StoredKeySecrets & { startedAt: string };
  /** A confirm I owe the peer for its offer (sealed and queued right after the offer was applied). */
  owedRekeyConfirm?: string;
  createdAt: string;
}

export type StatusesWhileHidden = "urgent" | "all" | "none";

/** Connection secret keys (Ed25519 signing seed, X25519 secret), base64. */
export interface StoredKeySecrets {
  signingSecretKey: string;
  encryptionSecretKey: string;
}

/** A packet sealed and waiting for the server to confirm it stored it. */
export interface OutboxPacket {
  /** The peer's pairID. */
  pairId: string;
  packetId: number;
  /**
   * What it carries, so queued locations can be withdrawn when either side's
   * sharing turns off. Missing in packets queued by SDKs before it was recorded.
   */
  kind?: PayloadKind;
  /** The sealed blob, base64. */
  blob: string;
  /** Sent marked urgent (SOS and the other danger statuses of urgency.ts): the recipient is woken at once. */
  urgent?: boolean;
  queuedAt: string;
}

export type PayloadKind = "location" | "status" | "text" | "rekey";

/** Parts of a multi-part text seen so far, keyed by the packetID of part 1. */
export interface PartialText {
  connection: string;
  firstPacketId: number;
  of: number;
  /** part number → the decoded 128-byte payload. */
  parts: Record<string, string>;
}

/** A text I sent (part 1's packetID), so replies, updates and deletes can name it and be checked. */
export interface SentText {
  connection: string;
  packetId: number;
  textKind: number;
  message: string;
  sentAt: string;
}

/** The server's limits as last fetched (GetServerInfo), so a send offline checks against them. */
export interface KnownServerLimits {
  maxBlobBytes: number;
  maxPacketsPerSync: number;
  fetchedAt: string;
}

export interface DeviceState {
  version: typeof STATE_VERSION;
  account?: StoredAccount;
  /**
   * The current session, reused until it expires so short-lived processes (one CLI
   * command each) do not sign in every time. As secret as the account key beside it.
   */
  session?: { token: string; expiresAt: string };
  /** My location-sharing flag; every packet I send carries it. */
  sharing: boolean;
  connections: StoredConnection[];
  outbox: OutboxPacket[];
  /** Received and persisted packets still to acknowledge, per pairID (mine, or "SERVER"). */
  acks: Record<string, number[]>;
  /**
   * Receipts (delivered or superseded) the relay reported, per peer pairID, until a
   * Sync has acknowledged them (receipts_seen). The relay reports each until then,
   * so one seen here again is not reported to the app again. Missing in older states.
   */
  receiptsSeen?: Record<string, number[]>;
  partialTexts: PartialText[];
  /** Recent server message ids, to skip a second delivery before the acknowledgement lands. */
  seenServerMessages: number[];
  inbox: InboxMessage[];
  /** Numbers inbox messages, so a reader can ask for what is new. */
  nextInboxSeq: number;
  /** Texts I sent (missing in states written before it was recorded). */
  sentTexts?: SentText[];
  /** Missing until the first GetServerInfo answered. */
  serverLimits?: KnownServerLimits;
}

interface InboxBase {
  seq: number;
  receivedAt: string;
  /**
   * When the sender sealed it (ISO 8601, from the envelope's authenticated header; for a status
   * the payload's own send time). Missing on server messages.
   */
  sentAt?: string;
  /** Seconds from `sentAt` to now, filled in when the message is handed out (event, `inbox()`). */
  age?: number;
  /** A location older than the client's stale threshold (default 15 min) when handed out. */
  stale?: boolean;
  /** The send time was more than 5 minutes ahead of this device's clock on receipt: a wrong clock. */
  sentInFuture?: boolean;
}

/** A decoded message from a peer, or a server message. Dates are ISO 8601. */
export type InboxMessage =
  | (InboxBase & {
      kind: "location";
      connection: string;
      packetId: number;
      movement: number;
      sharing: boolean;
      latitude: number;
      longitude: number;
      speedKmh: number;
      /** The fix's accuracy radius in metres, when the sender gave it. */
      accuracyM?: number;
      /** The sender's battery level (%), when given. */
      batteryPercent?: number;
    })
  | (InboxBase & {
      kind: "status";
      connection: string;
      packetId: number;
      status: number;
      sharing: boolean;
      sentAt: string;
      utcOffsetMinutes: number;
    })
  | (InboxBase & {
      kind: "text";
      connection: string;
      /** The packetID of part 1: what a reply, update or delete names as its parent. */
      packetId: number;
      textKind: number;
      sharing: boolean;
      parentPacketId: number;
      parentIsSender: boolean;
      message: string;
      /** Set when an update packet replaced the text: the packetID of the latest update. */
      updatedBy?: number;
    })
  | (InboxBase & { kind: "server"; packetId: number; type: number; subType: number; text: string });

export function emptyState(): DeviceState {
  return {
    version: STATE_VERSION,
    sharing: true,
    connections: [],
    outbox: [],
    acks: {},
    partialTexts: [],
    seenServerMessages: [],
    inbox: [],
    nextInboxSeq: 1,
  };
}

export interface DeviceStorage {
  /** A copy of the current state. */
  read(): Promise<DeviceState>;
  /**
   * Runs `change` on a copy of the state and keeps the result only if it returns
   * without throwing (and, for durable stores, once it is written). Updates run
   * one at a time, in call order.
   */
  update<T>(change: (state: DeviceState) => T): Promise<T>;
}

/** Serializes async work: each task starts after the previous one settled. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Keeps the state in memory: tests, browsers without persistence, throwaway devices. */
export class MemoryStorage implements DeviceStorage {
  private state: DeviceState;
  private readonly queue = new SerialQueue();

  constructor(initial: DeviceState = emptyState()) {
    this.state = structuredClone(initial);
  }

  async read(): Promise<DeviceState> {
    return this.queue.run(async () => structuredClone(this.state));
  }

  update<T>(change: (state: DeviceState) => T): Promise<T> {
    return this.queue.run(async () => {
      const next = structuredClone(this.state);
      const result = change(next);
      this.state = next;
      return result;
    });
  }
}
