import { TextMessageKind, encodePinBody, type InboxMessage } from "@seeme/client";
import { describeConnection, describeMessage, printable } from "../src/format.js";

/** What peers and the server write reaches the terminal with no control character left in it. */

const HOSTILE = "x\u001b]8;;https://evil.example\u0007click\u001b]8;;\u0007\u001b[2J\u009b31m\u009d0;title\u0007\u007f\r\n";
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what the test looks for
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const base = { seq: 1, receivedAt: "2025-04-19T09:41:05.000Z", connection: "A".repeat(40), sharing: true, parentPacketId: 0, parentIsSender: false };

test("printable escapes every C0 and C1 control character and DEL, and leaves the rest alone", () => {
  expect(printable("Opera House steps ☕")).toBe("Opera House steps ☕");
  expect(printable("\u001b[2J")).toBe("\\u001b[2J");
  expect(printable("\u009b31m\u007f")).toBe("\\u009b31m\\u007f");
  expect(printable(HOSTILE)).not.toMatch(CONTROL);
});

test("a pin's label, a text and a server message are printed without their control characters", () => {
  const pin: InboxMessage = { ...base, kind: "text", packetId: 4, textKind: TextMessageKind.LocationPin, message: encodePinBody({ latitude: -33.85678, longitude: 151.21529, label: HOSTILE }) };
  const text: InboxMessage = { ...base, kind: "text", packetId: 5, textKind: TextMessageKind.New, message: HOSTILE };
  const server: InboxMessage = { seq: 2, receivedAt: base.receivedAt, kind: "server", packetId: 9, type: 6, subType: 1, text: HOSTILE };
  const notice: InboxMessage = { ...server, type: 5, subType: 5 };
  for (const message of [pin, text, server, notice]) expect(describeMessage(message, () => "Bob")).not.toMatch(CONTROL);
  expect(describeMessage(pin, () => "Bob")).toContain("📌 x\\u001b]8;;https://evil.example\\u0007click");
  expect(describeMessage(server)).toContain("server message 6/1: x\\u001b]8;;");
  expect(describeConnection({ connection: "A".repeat(40), label: "B\u001b[1Aob", role: "initiator", status: "active", peerSharing: true, createdAt: base.receivedAt })).not.toMatch(CONTROL);
});
