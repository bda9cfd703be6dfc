import type { LiveState } from "../store.js";

/** Says whether updates arrive live; "Reconnecting…" while the stream is being restored. */
export function LiveIndicator({ live, online }: { live: LiveState; online: boolean }) {
  const text = !online ? "Offline" : live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…";
  return (
    <span class={`live live-${online ? live : "offline"}`} role="status" aria-live="polite">
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}
