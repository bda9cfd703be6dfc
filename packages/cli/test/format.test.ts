import { SimpleStatus, TextMessageKind, encodePinBody, type InboxMessage } from "@seeme/client";
import { alarmLine } from "../src/commands.js";
import { describeConnection, describeMessage, describeTime, formatAge, isAlarm, printable } from "../src/format.js";

/** What peers and the server write reaches the terminal with no control character left in it. */

const HOSTILE =
  "x\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007\u001b[2J\u009b31m\u009d0;title\u0007\u007f\r\n";
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what the test looks for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const base = {
  seq: 1,
  receivedAt: "2025-04-19T09:41:05.000Z",
  connection: "A".repeat(40),
  sharing: true,
  parentPacketId: 0,
  parentIsSender: false,
};

test("printable escapes every C0 and C1 control character and DEL, and leaves the rest alone", () => {
  expect(printable("Opera House steps ☕")).toBe("Opera House steps ☕");
  expect(printable("\u001b[2J")).toBe("\\u001b[2J");
  expect(printable("\u009b31m\u007f")).toBe("\\u009b31m\\u007f");
  expect(printable(HOSTILE)).not.toMatch(CONTROL);
});

test("a pin's label, a text and a server message are printed without their control characters", () => {
  const pin: InboxMessage = {
    ...base,
    kind: "text",
    packetId: 4,
    textKind: TextMessageKind.LocationPin,
    message: encodePinBody({ latitude: -33.85678, longitude: 151.21529, label: HOSTILE }),
  };
  const text: InboxMessage = { ...base, kind: "text", packetId: 5, textKind: TextMessageKind.New, message: HOSTILE };
  const server: InboxMessage = {
    seq: 2,
    receivedAt: base.receivedAt,
    kind: "server",
    packetId: 9,
    type: 6,
    subType: 1,
    text: HOSTILE,
  };
  const notice: InboxMessage = { ...server, type: 5, subType: 5 };
  for (const message of [pin, text, server, notice]) expect(describeMessage(message, () => "Bob")).not.toMatch(CONTROL);
  expect(describeMessage(pin, () => "Bob")).toContain("📌 x\\u001b]8;;https://evil.example\\u0007click");
  expect(describeMessage(server)).toContain("server message 6/1: x\\u001b]8;;");
  expect(
    describeConnection({
      connection: "A".repeat(40),
      label: "B\u001b[1Aob",
      role: "initiator",
      status: "active",
      peerSharing: true,
      createdAt: base.receivedAt,
    }),
  ).not.toMatch(CONTROL);
});

test("every location shows its time and age; the date is added when it is not today", () => {
  const location: InboxMessage = {
    ...base,
    kind: "location",
    packetId: 3,
    movement: 3,
    latitude: -33.8568,
    longitude: 151.2153,
    speedKmh: 4.5,
  };
  const received = new Date(base.receivedAt);
  const clock = (d: Date) =>
    [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  const later = new Date(received.getTime() + 2 * 60_000 + 5_000);
  expect(describeMessage(location, () => "Bob", later)).toBe(
    `Bob: 📍 -33.856800, 151.215300 walking 4.5 km/h at ${clock(received)} (2 min ago)`,
  );
  expect(describeTime(location, new Date(received.getTime() + 3 * 86_400_000))).toMatch(
    /^at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(3 d ago\)$/,
  );
  expect([0, 59_000, 60_000, 3_599_000, 3_600_000, 86_400_000].map(formatAge)).toEqual([
    "0 s ago",
    "59 s ago",
    "1 min ago",
    "59 min ago",
    "1 h ago",
    "1 d ago",
  ]);
});

test("an SOS or I'm lost rings the bell with a banner; other statuses are not alarms", () => {
  const status = (code: number): InboxMessage => ({
    ...base,
    kind: "status",
    packetId: 6,
    status: code,
    sentAt: base.receivedAt,
    utcOffsetMinutes: 0,
  });
  expect(alarmLine(status(SimpleStatus.Sos), () => "Bob", false)).toMatch(
    /^\u0007!!! SOS from Bob !!! Bob: status "sos"/,
  );
  expect(alarmLine(status(SimpleStatus.ImLost), () => "Bob", true)).toMatch(
    /^\u0007\u001b\[1;97;41m !!! I'M LOST from Bob !!! \u001b\[0m Bob: status "im-lost"/,
  );
  expect(
    [SimpleStatus.Sos, SimpleStatus.ImLost, SimpleStatus.ImOk, SimpleStatus.LocationSharingOff].map((s) =>
      isAlarm(status(s)),
    ),
  ).toEqual([true, true, false, false]);
});
