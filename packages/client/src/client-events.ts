import type { RejectReason } from "./receive.js";
import type { ConnectionStatus, InboxMessage } from "./storage.js";

/** What a SeeMeClient reports as it happens (subscribe with `client.events.on(...)`). */
export interface ClientEvents {
  /** A message was persisted to the inbox (peer message or server message). */
  message: InboxMessage;
  /** An incoming packet failed a check (tampered, re-addressed, replayed, unknown connection) and was discarded. */
  rejected: { connection?: string; packetId: number; reason: RejectReason };
  /** An incoming location was discarded because my sharing is off. */
  dropped: { connection: string; packetId: number; reason: "sharing-off" };
  /** The server stored packets I sent. */
  stored: { peerPairId: string; packetIds: number[] };
  /** The peer acknowledged packets I sent (the server deleted them). */
  delivered: { peerPairId: string; packetIds: number[] };
  /** A connection changed status (confirmed, broken, expired...). */
  connection: { connection: string; label: string; status: ConnectionStatus };
  /** The live stream caught up (true) or was lost and is reconnecting (false). */
  live: boolean;
  /** A background failure (live stream, deferred sync); foreground calls throw instead. */
  error: Error;
}
