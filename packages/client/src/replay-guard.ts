import { Code } from "@connectrpc/connect";
import { ClientError } from "./errors.js";
import { assertPacketId } from "./packet-id.js";

export type ReplayVerdict = "fresh" | "duplicate" | "too-old";

/** JSON-safe state, so a device can persist the guard: after a restart the server could otherwise replay old packets. */
export interface ReplayGuardSnapshot {
  windowSize: number;
  peers: Record<string, { highest: number; seen: number[] }>;
}

interface PeerWindow {
  highest: number;
  /** packetIDs accepted within (highest − windowSize, highest]. */
  seen: Set<number>;
}

/**
 * Accepts each packetID once per peer. Packets may arrive out of order (a resend, two devices
 * syncing), so any unseen packetID within `windowSize` below the highest accepted is still fresh;
 * older ones are refused because we can no longer tell whether they were seen. Call `accept`
 * only after `open` succeeded: the packetID is authenticated by then, so a forged packet cannot
 * burn a packetID the real sender will use later.
 */
export class ReplayGuard {
  private readonly peers = new Map<string, PeerWindow>();

  constructor(readonly windowSize = 1024) {
    if (!Number.isInteger(windowSize) || windowSize < 1)
      throw new ClientError("invalid-payload", "windowSize must be a positive integer");
  }

  static restore(snapshot: ReplayGuardSnapshot): ReplayGuard {
    const guard = new ReplayGuard(snapshot.windowSize);
    for (const [peer, { highest, seen }] of Object.entries(snapshot.peers)) {
      assertPacketId(highest, "highest");
      seen.forEach((id) => assertPacketId(id, "seen packetId"));
      guard.peers.set(peer, { highest, seen: new Set(seen) });
    }
    return guard;
  }

  /** What `accept` would decide, without recording anything. */
  check(peer: string, packetId: number): ReplayVerdict {
    assertPacketId(packetId);
    const window = this.peers.get(peer);
    if (!window || packetId > window.highest) return "fresh";
    if (packetId <= window.highest - this.windowSize) return "too-old";
    return window.seen.has(packetId) ? "duplicate" : "fresh";
  }

  accept(peer: string, packetId: number): void {
    const verdict = this.check(peer, packetId);
    if (verdict !== "fresh")
      throw new ClientError("replay", `packet refused as a replay (${verdict})`, Code.AlreadyExists);
    const window = this.peers.get(peer) ?? { highest: packetId, seen: new Set<number>() };
    window.seen.add(packetId);
    if (packetId > window.highest) {
      window.highest = packetId;
      for (const id of window.seen) if (id <= packetId - this.windowSize) window.seen.delete(id);
    }
    this.peers.set(peer, window);
  }

  snapshot(): ReplayGuardSnapshot {
    const peers: ReplayGuardSnapshot["peers"] = {};
    for (const [peer, window] of this.peers)
      peers[peer] = { highest: window.highest, seen: [...window.seen].sort((a, b) => a - b) };
    return { windowSize: this.windowSize, peers };
  }
}
