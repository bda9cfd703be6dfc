import type { RejectReason } from "./receive.js";
import type { ConnectionStatus, InboxMessage } from "./storage.js";

/** What a SeeMeClient reports as it happens (subscribe with `client.events.on(...)`). */
export interface ClientEvents {
  /** A message was persisted to the inbox (peer message or server message). */
  message: InboxMessage;
  /** An incoming packet failed a check (tampered, re-addressed, replayed, unknown connection) and was discarded. */
  rejected: { connection?: string; packetId: number; reason: RejectReason };
  /**
   * An incoming packet was discarded under the sharing rule: a location while my sharing is off
   * (`sharing-off`), a status or text the connection's `statusesWhileHidden` keeps out (`hidden`).
   */
  dropped: { connection: string; packetId: number; reason: "sharing-off" | "hidden" };
  /** The peer updated (`message` is the new text) or deleted the text `packetId`; `found` false if it was not here. */
  edited: {
    connection: string;
    packetId: number;
    action: "updated" | "deleted";
    found: boolean;
    message?: InboxMessage;
  };
  /** A key rotation step: `answered` (the peer's new keys taken, mine sent back), `completed` (my rotation confirmed). */
  rekeyed: { connection: string; step: "answered" | "completed" };
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
