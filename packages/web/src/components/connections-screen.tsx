import { useState } from "preact/hooks";
import type { ConnectionView } from "@seeme/client";
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

/** Everyone I am connected with: rename, break (asks first), ended ones shown as ended. */
export function ConnectionsScreen() {
  const state = useAppState();
  const [pairing, setPairing] = useState(false);
  const [breaking, setBreaking] = useState<ConnectionView>();
  const [renaming, setRenaming] = useState<string>();
  const [newName, setNewName] = useState("");
  const [notificationAsked, setNotificationAsked] = useState(
    () => !("Notification" in window) || Notification.permission !== "default",
  );

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
  const askNotifications = async () => {
    await Notification.requestPermission().catch(() => undefined);
    setNotificationAsked(true);
  };

  return (
    <div class="connections-screen">
      <button type="button" class="primary big" onClick={() => setPairing(true)}>
        Add someone
      </button>
      {!notificationAsked && shown.some((c) => c.status === "active") && (
        <p class="tip">
          Allow notifications so an SOS reaches you even when see-me is in the background.{" "}
          <button type="button" onClick={() => void askNotifications()}>
            Allow notifications
          </button>
        </p>
      )}
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
