import { useState } from "preact/hooks";
import { TextMessageKind, type InboxMessage } from "@seeme/client";
import { STATUS_NAMES } from "../names.js";
import { formatPosition } from "../people.js";
import { describe, pinOf, seeMe, useAppState, type SentText } from "../store.js";

type Point = { latitude: number; longitude: number };

interface ThreadItem {
  key: string;
  mine: boolean;
  packetId: number;
  at: number;
  text: string;
  pin?: Point & { label: string };
  /** A status ("I'm OK", "SOS"): shown in the thread, not answerable. */
  status?: boolean;
  replyTo?: string;
  edited?: boolean;
  deleted?: boolean;
  sent?: SentText;
}

/** A thread per connection: texts, replies, pins (shown on the map), delivered ✓. */
export function MessagesScreen({ onShowOnMap }: { onShowOnMap: (point: Point) => void }) {
  const state = useAppState();
  const usable = state.connections.filter(
    (c) => c.status === "active" || c.status === "broken" || c.status === "expired",
  );
  const [selected, setSelected] = useState<string | undefined>(usable.find((c) => c.status === "active")?.connection);
  if (!usable.length) return <p class="empty">No conversations yet: add someone on the People screen.</p>;
  const current = usable.find((c) => c.connection === selected) ?? usable[0];
  return (
    <div class="messages-screen">
      <div class="thread-picker">
        <label for="thread">Conversation with</label>
        <select id="thread" value={current.connection} onChange={(e) => setSelected(e.currentTarget.value)}>
          {usable.map((c) => (
            <option key={c.connection} value={c.connection}>
              {c.label}
              {c.status === "active" ? "" : " (ended)"}
            </option>
          ))}
        </select>
      </div>
      <Thread
        connection={current.connection}
        label={current.label}
        ended={current.status !== "active"}
        onShowOnMap={onShowOnMap}
      />
    </div>
  );
}

function Thread({
  connection,
  label,
  ended,
  onShowOnMap,
}: {
  connection: string;
  label: string;
  ended: boolean;
  onShowOnMap: (p: Point) => void;
}) {
  const state = useAppState();
  const [draft, setDraft] = useState("");
  const [replyTo, setReplyTo] = useState<ThreadItem>();
  const [error, setError] = useState<string>();
  const items = threadItems(
    state.inbox.filter((m) => "connection" in m && m.connection === connection),
    state.sent.filter((s) => s.connection === connection),
  );

  const send = async (event: Event) => {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    setError(undefined);
    try {
      await seeMe.sendText(connection, text, replyTo && { packetId: replyTo.packetId, mine: replyTo.mine });
      setDraft("");
      setReplyTo(undefined);
    } catch (failure) {
      setError(`Not sent: ${describe(failure)}`);
    }
  };
  const sharePin = async () => {
    const fix = state.myFix;
    if (!fix) return;
    try {
      await seeMe.sendPin(connection, { latitude: fix.latitude, longitude: fix.longitude, label: "I'm here" });
    } catch (failure) {
      setError(`Not sent: ${describe(failure)}`);
    }
  };

  return (
    <section class="thread" aria-label={`Messages with ${label}`}>
      <ol class="bubbles">
        {items.length === 0 && <li class="empty">No messages with {label} yet.</li>}
        {items.map((item) => (
          <li key={item.key} class={item.status ? "bubble status-line" : item.mine ? "bubble mine" : "bubble theirs"}>
            <span class="sender">{item.mine ? "You" : label}</span>
            {item.replyTo && <blockquote>↩ {item.replyTo}</blockquote>}
            {item.deleted ? (
              <em>Message deleted</em>
            ) : item.pin ? (
              <span>
                📍 {item.pin.label} ({formatPosition(item.pin.latitude, item.pin.longitude)})
              </span>
            ) : (
              <span class="text">{item.text}</span>
            )}
            {item.edited && <small> (edited)</small>}
            <span class="meta">
              {new Date(item.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
              {item.sent && (
                <span>{item.sent.delivered ? " ✓ Delivered" : item.sent.stored ? " Sent" : " Queued"}</span>
              )}
            </span>
            <span class="bubble-actions">
              {item.pin && (
                <button type="button" class="link" onClick={() => onShowOnMap(item.pin!)}>
                  Show on map
                </button>
              )}
              {!ended && !item.deleted && !item.status && (
                <button
                  type="button"
                  class="link"
                  onClick={() => setReplyTo(item)}
                  aria-label={`Reply to: ${item.text.slice(0, 40)}`}
                >
                  Reply
                </button>
              )}
            </span>
          </li>
        ))}
      </ol>
      {ended ? (
        <p class="ended">This connection has ended: no more messages.</p>
      ) : (
        <form class="composer" onSubmit={send}>
          {replyTo && (
            <p class="replying">
              Replying to: {replyTo.text.slice(0, 60)}{" "}
              <button type="button" class="link" onClick={() => setReplyTo(undefined)}>
                Cancel reply
              </button>
            </p>
          )}
          <label for="draft">Message to {label}</label>
          <textarea
            id="draft"
            rows={2}
            value={draft}
            maxLength={10_000}
            onInput={(e) => setDraft(e.currentTarget.value)}
          />
          <div class="composer-buttons">
            <button type="button" onClick={() => void sharePin()} disabled={!state.myFix}>
              Share my place
            </button>
            <button type="submit" class="primary" disabled={!draft.trim()}>
              Send
            </button>
          </div>
          {error && (
            <p role="alert" class="error">
              {error}
            </p>
          )}
        </form>
      )}
    </section>
  );
}

function threadItems(received: InboxMessage[], sent: SentText[]): ThreadItem[] {
  const items: ThreadItem[] = [];
  const theirs = new Map<number, ThreadItem>();
  const mine = new Map<number, ThreadItem>();
  for (const text of sent) {
    const item: ThreadItem = {
      key: `s${text.packetId}`,
      mine: true,
      packetId: text.packetId,
      at: text.at,
      text: text.text,
      sent: text,
    };
    mine.set(text.packetId, item);
    items.push(item);
  }
  const later: Array<Extract<InboxMessage, { kind: "text" }>> = [];
  for (const message of received) {
    if (message.kind === "status") {
      items.push({
        key: `r${message.seq}`,
        mine: false,
        packetId: message.packetId,
        at: Date.parse(message.receivedAt),
        text: `Status: ${STATUS_NAMES[message.status] ?? message.status}`,
        status: true,
      });
      continue;
    }
    if (message.kind !== "text") continue;
    if (message.textKind === TextMessageKind.Update || message.textKind === TextMessageKind.Delete) {
      later.push(message);
      continue;
    }
    const pin = pinOf(message);
    const item: ThreadItem = {
      key: `r${message.seq}`,
      mine: false,
      packetId: message.packetId,
      at: Date.parse(message.receivedAt),
      text: pin ? `📍 ${pin.label}` : message.message,
      pin,
    };
    theirs.set(message.packetId, item);
    items.push(item);
  }
  for (const message of later) {
    const target = theirs.get(message.parentPacketId);
    if (!target) continue;
    if (message.textKind === TextMessageKind.Delete) target.deleted = true;
    else {
      target.text = message.message;
      target.edited = true;
    }
  }
  // Replies name their parent: from the receiver's view, "parent is sender" means the peer's own message.
  for (const message of received) {
    if (message.kind !== "text" || message.textKind !== TextMessageKind.Reply) continue;
    const parent = message.parentIsSender ? theirs.get(message.parentPacketId) : mine.get(message.parentPacketId);
    const item = theirs.get(message.packetId);
    if (item && parent) item.replyTo = parent.text.slice(0, 60);
  }
  for (const text of sent) {
    if (!text.parentPacketId) continue;
    const parent = text.parentIsSender ? mine.get(text.parentPacketId) : theirs.get(text.parentPacketId);
    const item = mine.get(text.packetId);
    if (item && parent) item.replyTo = parent.text.slice(0, 60);
  }
  return items.sort((a, b) => a.at - b.at);
}
