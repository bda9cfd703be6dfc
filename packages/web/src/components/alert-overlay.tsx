import { useEffect, useRef } from "preact/hooks";
import type { InboxMessage } from "@seeme/client";
import { STATUS_NAMES } from "../names.js";
import { locationTime, minutesAgo } from "../packet-time.js";
import { formatPosition } from "../people.js";
import { ALERT_STATUSES, pinOf, seeMe, useAppState } from "../store.js";

type StatusMessage = Extract<InboxMessage, { kind: "status" }>;

/**
 * An incoming SOS / "I'm lost" / urgent help takes the whole screen, sounds and
 * raises a system notification, and stays until someone acknowledges it.
 */
export function AlertOverlay({
  onShowOnMap,
}: {
  onShowOnMap: (point: { latitude: number; longitude: number }) => void;
}) {
  const state = useAppState();
  const alerts = state.inbox.filter(
    (m): m is StatusMessage =>
      m.kind === "status" && ALERT_STATUSES.includes(m.status) && m.seq > state.alertsAckedThrough,
  );
  const button = useRef<HTMLButtonElement>(null);
  const notified = useRef(new Set<number>());
  const latest = alerts.at(-1);

  useEffect(() => {
    if (!latest) return;
    button.current?.focus();
    const sound = alarm();
    for (const alert of alerts) {
      if (notified.current.has(alert.seq)) continue;
      notified.current.add(alert.seq);
      void systemNotification(`${STATUS_NAMES[alert.status]} from ${nameOf(alert.connection)}`);
    }
    return () => sound.stop();
  }, [latest?.seq]);

  if (!latest) return null;
  const name = nameOf(latest.connection);
  // The location that came with it: the sender's newest location or pin.
  const located = [...state.inbox]
    .reverse()
    .find((m) => (m.kind === "location" || pinOf(m)) && "connection" in m && m.connection === latest.connection);
  const where = located?.kind === "location" ? located : located ? pinOf(located) : undefined;
  return (
    <div
      class="alert-overlay"
      role="alertdialog"
      aria-modal="true"
      aria-labelledby="alert-title"
      aria-describedby="alert-detail"
    >
      <h2 id="alert-title">
        {STATUS_NAMES[latest.status]} from {name}
      </h2>
      <p id="alert-detail">
        Sent {minutesAgo(locationTime(latest), state.now)}.{" "}
        {where ? `Last location: ${formatPosition(where.latitude, where.longitude)}.` : "No location came with it."}
      </p>
      {alerts.length > 1 && <p>{alerts.length} alerts waiting.</p>}
      {where && (
        <button
          type="button"
          class="big"
          onClick={() => {
            onShowOnMap(where);
            void seeMe.acknowledgeAlerts();
          }}
        >
          Show on map
        </button>
      )}
      <button type="button" class="big primary" ref={button} onClick={() => void seeMe.acknowledgeAlerts()}>
        I've seen it
      </button>
    </div>
  );

  function nameOf(connection: string): string {
    return state.connections.find((c) => c.connection === connection)?.label ?? "someone";
  }
}

/** A repeating two-tone alarm from WebAudio (no sound file to fetch); browsers may hold it until a tap. */
function alarm(): { stop(): void } {
  const AudioCtx = window.AudioContext;
  if (!AudioCtx) return { stop() {} };
  const context = new AudioCtx();
  const beep = () => {
    for (const [offset, frequency] of [
      [0, 880],
      [0.25, 660],
    ] as const) {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.value = 0.2;
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(context.currentTime + offset);
      oscillator.stop(context.currentTime + offset + 0.2);
    }
  };
  beep();
  const timer = setInterval(beep, 1500);
  return {
    stop() {
      clearInterval(timer);
      void context.close();
    },
  };
}

async function systemNotification(title: string): Promise<void> {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const registration = await navigator.serviceWorker?.getRegistration();
  const options: NotificationOptions = {
    body: "Open see-me",
    tag: "seeme-alert",
    requireInteraction: true,
    icon: "/icons/icon-192.png",
  };
  if (registration) await registration.showNotification(title, options);
  else new Notification(title, options);
}
