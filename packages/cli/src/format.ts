import { SimpleStatus, TextMessageKind, decodePinBody, type ConnectionView, type InboxMessage } from "@seeme/client";
import { MOVEMENT_BY_CODE, TEXT_KIND_BY_CODE, statusName } from "./names.js";

export { MOVEMENT_NAMES, STATUS_NAMES, statusName } from "./names.js";

const NOTICES: Record<number, string> = {
  3: "connection confirmed",
  4: "invite expired",
  5: "connection broken by the peer",
};

/** Statuses a family must not miss: `watch` rings the bell and highlights them. */
const ALARMS = new Map<number, string>([
  [SimpleStatus.Sos, "SOS"],
  [SimpleStatus.ImLost, "I'M LOST"],
  [SimpleStatus.INeedUrgentHelp, "I NEED URGENT HELP"],
  [SimpleStatus.IFeelUnsafe, "I FEEL UNSAFE"],
]);

/** The banner title of an alarm, or undefined for any other message. */
export function alarmTitle(m: InboxMessage): string | undefined {
  return m.kind === "status" ? ALARMS.get(m.status) : undefined;
}

export function isAlarm(m: InboxMessage): boolean {
  return alarmTitle(m) !== undefined;
}

/**
 * When a message happened: its send time where the packet carries one (envelope v2
 * gives every packet `sentAt`; v1 only statuses), else when this device received it.
 * Written with `in` so it compiles against the SDK with and without `sentAt`.
 */
export function messageTime(m: InboxMessage): Date {
  const sentAt = "sentAt" in m && typeof m.sentAt === "string" ? m.sentAt : undefined;
  return new Date(sentAt ?? m.receivedAt);
}

/** "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

/** "at 09:41:05 (2 min ago)" in local time; the date is added when it is not today. */
export function describeTime(m: InboxMessage, now: Date = new Date()): string {
  const at = messageTime(m);
  const sameDay = at.toDateString() === now.toDateString();
  const pad = (n: number) => String(n).padStart(2, "0");
  const clock = `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
  const day = sameDay ? "" : `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} `;
  // The SDK marks a location older than its threshold (default 15 min) as stale.
  const stale = "stale" in m && m.stale === true ? ", stale" : "";
  return `at ${day}${clock} (${formatAge(now.getTime() - at.getTime())}${stale})`;
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
  return [`${short(c.connection)}  ${printable(c.label).padEnd(12)}`, c.status.padEnd(8), c.role.padEnd(9), sharing]
    .join("  ")
    .trimEnd();
}

export function describeMessage(
  m: InboxMessage,
  label: (connection: string) => string = short,
  now: Date = new Date(),
): string {
  switch (m.kind) {
    case "location": {
      const where = `${m.latitude.toFixed(6)}, ${m.longitude.toFixed(6)} ${MOVEMENT_BY_CODE.get(m.movement)} ${m.speedKmh} km/h`;
      return `${label(m.connection)}: 📍 ${where} ${describeTime(m, now)}`;
    }
    case "status":
      return `${label(m.connection)}: status "${statusName(m.status)}" (sharing ${m.sharing ? "on" : "off"}) ${describeTime(m, now)}`;
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
      return m.type === 5
        ? `server: ${NOTICES[m.subType] ?? `connection notice ${m.subType}`} (${printable(short(m.text))})`
        : `server message ${m.type}/${m.subType}: ${printable(m.text)}`;
  }
}
