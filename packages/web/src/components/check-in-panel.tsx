import { useState } from "preact/hooks";
import { describe, seeMe, useAppState } from "../store.js";

/** HH:MM, 24 h, as `<input type="time">` takes it. */
const clock = (time: Date) =>
  `${String(time.getHours()).padStart(2, "0")}:${String(time.getMinutes()).padStart(2, "0")}`;

/** The next time the clock shows HH:MM: today, or tomorrow when that has passed. */
function nextTimeOfDay(hhmm: string, now: Date): Date {
  const [hours, minutes] = hhmm.split(":").map(Number);
  const at = new Date(now);
  at.setHours(hours, minutes, 0, 0);
  if (at.getTime() <= now.getTime()) at.setDate(at.getDate() + 1);
  return at;
}

/**
 * "If I'm not back by HH:MM, tell <peer> where I was": sealed now and held by the
 * relay, so it goes out even if this phone is off or lost; "I'm back" cancels it
 * and the peer never learns it existed.
 */
export function CheckInPanel() {
  const state = useAppState();
  const active = state.connections.filter((c) => c.status === "active");
  const inAnHour = clock(new Date(state.now + 60 * 60_000));
  const [time, setTime] = useState(inAnHour);
  const [to, setTo] = useState("");
  const [message, setMessage] = useState("");
  const [includeLocation, setIncludeLocation] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (failure) {
      setError(describe(failure));
    } finally {
      setBusy(false);
    }
  };

  const current = state.checkIn;
  if (current) {
    const releaseAt = new Date(current.handle.releaseAt);
    const released = releaseAt.getTime() <= state.now;
    return (
      <section class="check-in" aria-labelledby="check-in-heading">
        <h2 id="check-in-heading">Check-in</h2>
        {released ? (
          <p>
            Not cancelled by {clock(releaseAt)}: {current.label} has been told “{current.message}”.
          </p>
        ) : (
          <p>
            If you're not back by <strong>{clock(releaseAt)}</strong>, {current.label} is told “{current.message}”.
          </p>
        )}
        <div class="row-buttons">
          {released ? (
            <button type="button" onClick={() => void run(() => seeMe.dismissCheckIn())}>
              OK
            </button>
          ) : (
            <>
              <button
                type="button"
                class="primary"
                disabled={busy}
                onClick={() => void run(() => seeMe.cancelCheckIn())}
              >
                I'm back
              </button>
              <button type="button" disabled={busy} onClick={() => void run(() => seeMe.extendCheckIn(30))}>
                30 min more
              </button>
            </>
          )}
        </div>
        {error && <p role="alert">{error}</p>}
      </section>
    );
  }
  if (!active.length) return null;
  const chosen = active.find((c) => c.connection === to) ?? active[0];
  const text = message || `I meant to be back by ${time}. This is where I was.`;
  return (
    <section class="check-in" aria-labelledby="check-in-heading">
      <h2 id="check-in-heading">Check-in</h2>
      <form
        class="check-in-form"
        onSubmit={(e) => {
          e.preventDefault();
          void run(() =>
            seeMe.startCheckIn({
              until: nextTimeOfDay(time, new Date()),
              to: chosen.connection,
              message: text,
              includeLocation: includeLocation && Boolean(state.myFix),
            }),
          );
        }}
      >
        <label>
          If I'm not back by
          <input type="time" required value={time} onInput={(e) => setTime(e.currentTarget.value)} />
        </label>
        <label>
          tell
          <select value={chosen.connection} onChange={(e) => setTo(e.currentTarget.value)}>
            {active.map((c) => (
              <option key={c.connection} value={c.connection}>
                {c.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Message
          <input type="text" maxLength={500} value={text} onInput={(e) => setMessage(e.currentTarget.value)} />
        </label>
        <label class="inline">
          <input
            type="checkbox"
            checked={includeLocation && Boolean(state.myFix)}
            disabled={!state.myFix}
            onChange={(e) => setIncludeLocation(e.currentTarget.checked)}
          />
          {state.myFix ? "with where I was last" : "with where I was last (your location is not known yet)"}
        </label>
        <button type="submit" class="primary" disabled={busy}>
          Start check-in
        </button>
        <p class="hint">
          Sealed now and held by the server: it goes out even if this phone is off. Press “I'm back” in time and nobody
          is told.
        </p>
      </form>
      {error && <p role="alert">{error}</p>}
    </section>
  );
}
