import { useState } from "preact/hooks";
import { useAppState, seeMe } from "../store.js";
import { AlertOverlay } from "./alert-overlay.js";
import { ConnectionsScreen } from "./connections-screen.js";
import { LiveIndicator } from "./live-indicator.js";
import { MapScreen } from "./map-screen.js";
import { MessagesScreen } from "./messages-screen.js";
import { ServerBanner } from "./server-banner.js";
import { StatusScreen } from "./status-screen.js";
import { Welcome } from "./welcome.js";

export type Tab = "map" | "status" | "messages" | "people";

const TABS: Array<{ id: Tab; label: string; icon: string }> = [
  { id: "map", label: "Map", icon: "🗺️" },
  { id: "status", label: "Status", icon: "🆘" },
  { id: "messages", label: "Messages", icon: "💬" },
  { id: "people", label: "People", icon: "👪" },
];

export function App() {
  const state = useAppState();
  const [tab, setTab] = useState<Tab>("map");
  const [focus, setFocus] = useState<{ latitude: number; longitude: number } | undefined>();

  if (state.phase === "loading")
    return (
      <main class="centered">
        <p role="status">Opening see-me…</p>
      </main>
    );
  if (state.phase === "failed") {
    return (
      <main class="centered">
        <h1>see-me could not start</h1>
        <p role="alert">{state.failure}</p>
        <button type="button" onClick={() => location.reload()}>
          Try again
        </button>
      </main>
    );
  }
  if (state.phase === "welcome") return <Welcome />;

  const showOnMap = (point: { latitude: number; longitude: number }) => {
    setFocus(point);
    setTab("map");
  };
  const title = TABS.find((t) => t.id === tab)?.label ?? "";
  return (
    <div class="shell">
      <header class="top">
        <span class="brand" aria-hidden="true">
          see-me
        </span>
        <h1 class="screen-title">{title}</h1>
        <LiveIndicator live={state.live} online={state.online} />
      </header>
      <ServerBanner />
      {state.notice && (
        <div class="notice" role="status">
          <span>{state.notice}</span>
          <button type="button" class="link" onClick={() => seeMe.notify(undefined)}>
            Dismiss
          </button>
        </div>
      )}
      <main class="content">
        {tab === "map" && <MapScreen focus={focus} onAdd={() => setTab("people")} />}
        {tab === "status" && <StatusScreen />}
        {tab === "messages" && <MessagesScreen onShowOnMap={showOnMap} />}
        {tab === "people" && <ConnectionsScreen />}
      </main>
      <nav class="tabs" aria-label="Screens">
        {TABS.map((t) => (
          <button
            type="button"
            key={t.id}
            aria-current={tab === t.id ? "page" : undefined}
            onClick={() => setTab(t.id)}
          >
            <span aria-hidden="true">{t.icon}</span>
            {t.label}
          </button>
        ))}
      </nav>
      <AlertOverlay onShowOnMap={showOnMap} />
    </div>
  );
}
