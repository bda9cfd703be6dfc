import { useState } from "preact/hooks";
import { SimpleStatus } from "@seeme/client";
import { STATUS_NAMES } from "../names.js";
import { ALERT_STATUSES, describe, seeMe, useAppState } from "../store.js";
import { ConfirmDialog } from "./confirm-dialog.js";

const DANGER = [SimpleStatus.Sos, SimpleStatus.ImLost, SimpleStatus.INeedUrgentHelp, SimpleStatus.IFeelUnsafe];
const GENERAL = [
  SimpleStatus.ImOk,
  SimpleStatus.OnMyWayHome,
  SimpleStatus.IllBeHomeLate,
  SimpleStatus.PleaseCallMe,
  SimpleStatus.PleaseMessageMe,
  SimpleStatus.WhatsYourEta,
];

/** The SPEC §6 statuses as big buttons; the alarming ones ask first and carry my last location. */
export function StatusScreen() {
  const state = useAppState();
  const [asking, setAsking] = useState<number>();
  const [result, setResult] = useState<string>();
  const send = async (status: number) => {
    setAsking(undefined);
    setResult(`Sending ${STATUS_NAMES[status]}…`);
    try {
      setResult(`${STATUS_NAMES[status]}: ${await seeMe.sendStatus(status)}`);
    } catch (error) {
      setResult(`${STATUS_NAMES[status]} could not be sent: ${describe(error)}`);
    }
  };
  const active = state.connections.filter((c) => c.status === "active").map((c) => c.label);
  return (
    <div class="status-screen">
      <p>Goes to everyone you are connected with{active.length ? `: ${active.join(", ")}` : ""}.</p>
      <h2>Need help</h2>
      <div class="status-grid">
        {DANGER.map((status) => (
          <button
            type="button"
            key={status}
            class={status === SimpleStatus.Sos ? "status sos" : "status urgent"}
            onClick={() => setAsking(status)}
          >
            {STATUS_NAMES[status]}
          </button>
        ))}
      </div>
      <h2>Let them know</h2>
      <div class="status-grid">
        {GENERAL.map((status) => (
          <button type="button" key={status} class="status" onClick={() => void send(status)}>
            {STATUS_NAMES[status]}
          </button>
        ))}
      </div>
      <p role="status" class="result">
        {result}
      </p>
      {asking !== undefined && (
        <ConfirmDialog
          title={`Send ${STATUS_NAMES[asking]}?`}
          confirmLabel={`Send ${STATUS_NAMES[asking]}`}
          danger
          onConfirm={() => void send(asking)}
          onCancel={() => setAsking(undefined)}
        >
          <p>
            Everyone you are connected with gets a full-screen alert with a sound
            {ALERT_STATUSES.includes(asking)
              ? state.myFix
                ? ", and your last location."
                : ". Your location is not known yet."
              : "."}
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
