import type { ConnectionView, InboxMessage } from "@seeme/client";
import { locationAccuracy, locationTime } from "./packet-time.js";
import { pinOf, type AppState } from "./store.js";

/** One connection as the map and the list show it. */
export interface Person {
  connection: ConnectionView;
  location?: {
    latitude: number;
    longitude: number;
    movement: number;
    speedKmh: number;
    time: number;
    accuracy?: number;
  };
  /** The peer's sharing is off: neither side sees the other. */
  hidden: boolean;
}

export interface PinView {
  key: string;
  label: string;
  from: string;
  latitude: number;
  longitude: number;
}

export function activePeople(state: AppState): Person[] {
  const latest = new Map<string, Extract<InboxMessage, { kind: "location" }>>();
  for (const message of state.inbox) {
    if (message.kind !== "location") continue;
    const seen = latest.get(message.connection);
    if (!seen || message.packetId > seen.packetId) latest.set(message.connection, message);
  }
  return state.connections
    .filter((c) => c.status === "active")
    .map((connection) => {
      const packet = latest.get(connection.connection);
      return {
        connection,
        hidden: !connection.peerSharing,
        location: packet && {
          latitude: packet.latitude,
          longitude: packet.longitude,
          movement: packet.movement,
          speedKmh: packet.speedKmh,
          time: locationTime(packet),
          accuracy: locationAccuracy(packet),
        },
      };
    });
}

export function pins(state: AppState): PinView[] {
  const names = new Map(state.connections.map((c) => [c.connection, c.label]));
  const result: PinView[] = [];
  for (const message of state.inbox) {
    const pin = pinOf(message);
    if (pin && message.kind === "text") {
      result.push({
        key: `${message.connection}:${message.packetId}`,
        ...pin,
        label: pin.label || "Pin",
        from: names.get(message.connection) ?? "someone",
      });
    }
  }
  return result;
}

export function formatPosition(latitude: number, longitude: number): string {
  return `${latitude.toFixed(5)}, ${longitude.toFixed(5)}`;
}
