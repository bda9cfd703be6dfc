import { useState } from "preact/hooks";
import { describe, seeMe, useAppState } from "../store.js";

/** My location sharing, with the rule it follows and who hides from whom. */
export function SharingSwitch() {
  const state = useAppState();
  const [busy, setBusy] = useState(false);
  const active = state.connections.filter((c) => c.status === "active");
  const hidingFromMe = active.filter((c) => !c.peerSharing).map((c) => c.label);
  const toggle = async () => {
    setBusy(true);
    try {
      await seeMe.setSharing(!state.sharing);
    } catch (error) {
      seeMe.notify(`Sharing could not be changed: ${describe(error)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="sharing" aria-labelledby="sharing-label">
      <div class="sharing-row">
        <span id="sharing-label" class="sharing-title">
          Share my location
        </span>
        <button
          type="button"
          role="switch"
          aria-checked={state.sharing}
          aria-labelledby="sharing-label"
          class="switch"
          disabled={busy}
          onClick={toggle}
        >
          <span aria-hidden="true">{state.sharing ? "On" : "Off"}</span>
        </button>
      </div>
      <p class="hint">
        If you can't see me, I can't see you: while your sharing is off nobody sees you, and you see nobody.
      </p>
      {!state.sharing && active.length > 0 && <p class="hiding">You hide from everyone.</p>}
      {hidingFromMe.length > 0 && <p class="hiding">Hiding from you: {hidingFromMe.join(", ")}.</p>}
    </section>
  );
}
