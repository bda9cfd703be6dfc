import { PrimaryType } from "@seeme/client";
import { SERVER_MESSAGE_NAMES } from "../names.js";
import { seeMe, useAppState } from "../store.js";

/** Server messages (type 6) as a banner until dismissed. */
export function ServerBanner() {
  const state = useAppState();
  const messages = state.inbox.filter(
    (m) => m.kind === "server" && m.type === PrimaryType.ServerMessage && m.seq > state.bannersDismissedThrough,
  );
  if (!messages.length) return null;
  return (
    <aside class="banner" aria-label="Messages from see-me">
      {messages.map(
        (m) =>
          m.kind === "server" && (
            <p key={m.seq}>
              <strong>{SERVER_MESSAGE_NAMES[m.subType] ?? "Notice"}:</strong> {m.text}
            </p>
          ),
      )}
      <button type="button" onClick={() => void seeMe.dismissBanners()}>
        Dismiss
      </button>
    </aside>
  );
}
