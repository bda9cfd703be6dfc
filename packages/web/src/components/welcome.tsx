import { useState } from "preact/hooks";
import { describe, seeMe } from "../store.js";

/** First run: create this device and choose the name I go by. */
export function Welcome() {
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await seeMe.createDevice(name.trim());
    } catch (failure) {
      setError(`This device could not be created: ${describe(failure)}. Check the connection and try again.`);
      setBusy(false);
    }
  };
  return (
    <main class="welcome">
      <div class="logo" aria-hidden="true">
        📍
      </div>
      <h1>Welcome to see-me</h1>
      <p>
        See the people you trust on a map, and let them see you. Only the two phones of a pair can read what they share:
        not even our server can.
      </p>
      <form onSubmit={submit}>
        <label for="my-name">Your name</label>
        <p class="hint" id="my-name-hint">
          Shown on your code when you add someone, so they know it is you.
        </p>
        <input
          id="my-name"
          aria-describedby="my-name-hint"
          value={name}
          required
          maxLength={40}
          autocomplete="given-name"
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <button type="submit" class="primary big" disabled={busy || !name.trim()}>
          {busy ? "Creating your keys…" : "Create this device"}
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <p class="hint">Your keys are made on this phone and stay in its storage.</p>
    </main>
  );
}
