import { useState } from "preact/hooks";
import type { ConnectionView, StatusesWhileHidden } from "@seeme/client";
import { describe, seeMe, useAppState } from "../store.js";
import { ConfirmDialog } from "./confirm-dialog.js";
import { PairingFlow } from "./pairing-flow.js";

const STATUS_TEXT: Record<ConnectionView["status"], string> = {
  offered: "Being added",
  answered: "Being added",
  invited: "Waiting for them to scan the last code",
  active: "Connected",
  expired: "Ended: the last code was never scanned",
  broken: "Ended",
};

const WHILE_HIDDEN: Array<{ value: StatusesWhileHidden; label: string }> = [
  { value: "urgent", label: "Only SOS and other calls for help" },
  { value: "all", label: "Everything" },
  { value: "none", label: "Nothing" },
];

/**
 * Everyone I am connected with: rename, break (asks first), what reaches me from each while my
 * location is hidden; ended ones shown as ended.
 */
export function ConnectionsScreen() {
  const state = useAppState();
  const [pairing, setPairing] = useState(false);
  const [breaking, setBreaking] = useState<ConnectionView>();
  const [renaming, setRenaming] = useState<string>();
  const [newName, setNewName] = useState("");

  if (pairing) return <PairingFlow onClose={() => setPairing(false)} />;
  const shown = state.connections.filter((c) => c.status !== "offered" && c.status !== "answered");
  const doBreak = async (connection: ConnectionView) => {
    setBreaking(undefined);
    try {
      await seeMe.breakConnection(connection.connection);
      seeMe.notify(`You and ${connection.label} are no longer connected.`);
    } catch (error) {
      seeMe.notify(`Could not end the connection: ${describe(error)}`);
    }
  };
  const changeWhileHidden = async (connection: ConnectionView, setting: StatusesWhileHidden) => {
    try {
      await seeMe.setStatusesWhileHidden(connection.connection, setting);
    } catch (error) {
      seeMe.notify(`Could not change it: ${describe(error)}`);
    }
  };
  const askNotifications = async () => {
    const result = await seeMe.enablePush(true);
    if (result === "on") seeMe.notify("Notifications are on: an SOS reaches you even when see-me is closed.");
    else if (result === "denied") seeMe.notify("Notifications are blocked: allow them in the browser's site settings.");
    else if (result === "failed")
      seeMe.notify("The browser's push service could not be reached: alerts arrive while see-me is open.");
  };

  return (
    <div class="connections-screen">
      <button type="button" class="primary big" onClick={() => setPairing(true)}>
        Add someone
      </button>
      {(state.push === "ask" || state.push === "denied") && shown.some((c) => c.status === "active") && (
        <p class="tip">
          {state.push === "ask"
            ? "Allow notifications so an SOS reaches you even when see-me is closed."
            : "Notifications are blocked, so an SOS reaches you only while see-me is open: allow them in the browser's site settings."}{" "}
          The server only wakes your phone; it never learns what the message says.{" "}
          <button type="button" onClick={() => void askNotifications()}>
            Allow notifications
          </button>
        </p>
      )}
      {state.push === "on" && <p class="hint">Alerts reach this phone even when see-me is closed.</p>}
      <h2>Your connections</h2>
      {!shown.length && <p>None yet.</p>}
      <ul class="connections">
        {shown.map((c) => {
          const ended = c.status === "broken" || c.status === "expired";
          return (
            <li key={c.connection} class={ended ? "ended" : undefined}>
              {renaming === c.connection ? (
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    void seeMe.rename(c.connection, newName.trim()).then(() => setRenaming(undefined));
                  }}
                >
                  <label for={`rename-${c.connection}`}>New name for {c.label}</label>
                  <input
                    id={`rename-${c.connection}`}
                    value={newName}
                    required
                    maxLength={40}
                    onInput={(e) => setNewName(e.currentTarget.value)}
                  />
                  <button type="submit" disabled={!newName.trim()}>
                    Save
                  </button>
                  <button type="button" onClick={() => setRenaming(undefined)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <>
                  <div>
                    <strong>{c.label}</strong>
                    <span class="detail">
                      {STATUS_TEXT[c.status]}
                      {c.status === "active" && !c.peerSharing ? " · not sharing their location" : ""}
                    </span>
                  </div>
                  <div class="row-buttons">
                    <button
                      type="button"
                      onClick={() => {
                        setRenaming(c.connection);
                        setNewName(c.label);
                      }}
                      aria-label={`Rename ${c.label}`}
                    >
                      Rename
                    </button>
                    {!ended && (
                      <button
                        type="button"
                        class="danger"
                        onClick={() => setBreaking(c)}
                        aria-label={`End connection with ${c.label}`}
                      >
                        End
                      </button>
                    )}
                  </div>
                  {c.status === "active" && (
                    <label class="while-hidden">
                      While my location is hidden, let through from {c.label}:
                      <select
                        value={c.statusesWhileHidden ?? "urgent"}
                        onChange={(e) => {
                          const chosen = WHILE_HIDDEN.find((o) => o.value === e.currentTarget.value);
                          if (chosen) void changeWhileHidden(c, chosen.value);
                        }}
                      >
                        {WHILE_HIDDEN.map((o) => (
                          <option key={o.value} value={o.value}>
                            {o.label}
                          </option>
                        ))}
                      </select>
                    </label>
                  )}
                </>
              )}
            </li>
          );
        })}
      </ul>
      {breaking && (
        <ConfirmDialog
          title={`End the connection with ${breaking.label}?`}
          confirmLabel="End connection"
          danger
          onConfirm={() => void doBreak(breaking)}
          onCancel={() => setBreaking(undefined)}
        >
          <p>You stop seeing each other and can no longer send messages. To connect again you scan codes in person.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
