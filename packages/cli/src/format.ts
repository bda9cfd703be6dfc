import { Movement, SimpleStatus, TextMessageKind, decodePinBody, type ConnectionView, type InboxMessage } from "@seeme/client";

/** Human-readable names for the codes of SPEC §6, as typed on the command line. */
const kebab = (name: string) => name.replace(/([a-z])([A-Z])/g, "$1-$2").replace(/([A-Z])([A-Z][a-z])/g, "$1-$2").toLowerCase();

export const STATUS_NAMES = new Map(Object.entries(SimpleStatus).map(([name, code]) => [kebab(name), code]));
const STATUS_BY_CODE = new Map([...STATUS_NAMES].map(([name, code]) => [code as number, name]));
const MOVEMENT_BY_CODE = new Map(Object.entries(Movement).map(([name, code]) => [code as number, kebab(name)]));
export const MOVEMENT_NAMES = new Map(Object.entries(Movement).map(([name, code]) => [kebab(name), code]));
const TEXT_KIND_BY_CODE = new Map(Object.entries(TextMessageKind).map(([name, code]) => [code as number, kebab(name)]));
const NOTICES: Record<number, string> = { 3: "connection confirmed", 4: "invite expired", 5: "connection broken by the peer" };

export function statusName(code: number): string {
  return STATUS_BY_CODE.get(code) ?? `status ${code}`;
}

/**
 * What a peer or the server wrote, made safe for a terminal: C0 and C1 control
 * characters (ESC, CSI, OSC, BEL, …, and DEL) are shown as `\u001b`-style
 * escapes, so a message cannot move the cursor, rewrite earlier lines, retitle
 * the window or plant a hyperlink.
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function short(pairId: string | undefined): string {
  return pairId ? `${pairId.slice(0, 8)}…` : "—";
}

export function describeConnection(c: ConnectionView): string {
  const sharing = c.status === "active" ? (c.peerSharing ? "peer sharing on" : "peer sharing OFF") : "";
  return [`${short(c.connection)}  ${printable(c.label).padEnd(12)}`, c.status.padEnd(8), c.role.padEnd(9), sharing].join("  ").trimEnd();
}

export function describeMessage(m: InboxMessage, label: (connection: string) => string = short): string {
  switch (m.kind) {
    case "location":
      return `${label(m.connection)}: 📍 ${m.latitude.toFixed(6)}, ${m.longitude.toFixed(6)} ${MOVEMENT_BY_CODE.get(m.movement)} ${m.speedKmh} km/h`;
    case "status":
      return `${label(m.connection)}: status "${statusName(m.status)}" (sharing ${m.sharing ? "on" : "off"}, sent ${m.sentAt})`;
    case "text": {
      const kind = TEXT_KIND_BY_CODE.get(m.textKind) ?? "text";
      const parent = m.parentPacketId ? ` to #${m.parentPacketId}${m.parentIsSender ? " (theirs)" : " (mine)"}` : "";
      if (m.textKind === TextMessageKind.LocationPin) {
        const pin = decodePinBody(m.message);
        return `${label(m.connection)}: 📌 ${printable(pin.label)} at ${pin.latitude.toFixed(6)}, ${pin.longitude.toFixed(6)}`;
      }
      return `${label(m.connection)}: ${kind} #${m.packetId}${parent}: ${m.message === "" ? "(deleted)" : printable(JSON.stringify(m.message))}`;
    }
    case "server":
      return m.type === 5 ? `server: ${NOTICES[m.subType] ?? `connection notice ${m.subType}`} (${printable(short(m.text))})` : `server message ${m.type}/${m.subType}: ${printable(m.text)}`;
  }
}
