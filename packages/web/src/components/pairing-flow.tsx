import { useEffect, useState } from "preact/hooks";
import { describe, seeMe, useAppState } from "../store.js";
import { CodeScanner } from "./code-scanner.js";
import { QrCode } from "./qr-code.js";

type Step =
  | { mode: "start" }
  | { mode: "show"; step: 1 | 2 | 3; qr: string; connection?: string }
  | { mode: "scan"; step: 1 | 2 | 3 }
  | { mode: "done" };

/**
 * SPEC §3 as three steps on two phones, each screen saying what happens next:
 *   1. A shows a code, B scans it;  2. B shows a code, A scans it;
 *   3. A shows the invite, B scans it — connected.
 */
export function PairingFlow({ onClose }: { onClose: () => void }) {
  const state = useAppState();
  const [name, setName] = useState("");
  const [step, setStep] = useState<Step>({ mode: "start" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const who = name.trim() || "them";

  // A learns that B confirmed from the server (5/3) or B's first packet.
  const waitingFor = step.mode === "show" && step.step === 3 ? step.connection : undefined;
  const made =
    waitingFor !== undefined && state.connections.some((c) => c.connection === waitingFor && c.status === "active");
  useEffect(() => {
    if (made) setStep({ mode: "done" });
  }, [made]);

  const showMine = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setStep({ mode: "show", step: 1, qr: await seeMe.showMyCode(name.trim()) });
    } catch (failure) {
      setError(describe(failure));
    } finally {
      setBusy(false);
    }
  };
  const scanned = async (code: string) => {
    setBusy(true);
    setError(undefined);
    try {
      const result = await seeMe.useCode(code, name.trim());
      if (result.step === "answered") setStep({ mode: "show", step: 2, qr: result.qr! });
      else if (result.step === "invited")
        setStep({ mode: "show", step: 3, qr: result.qr!, connection: result.connection });
      else setStep({ mode: "done" });
    } catch (failure) {
      setError(`That code did not work: ${describe(failure)}`);
      // A fresh scanner lets the person try again.
      setStep({ mode: "scan", step: step.mode === "scan" ? step.step : 1 });
    } finally {
      setBusy(false);
    }
  };
  const cancel = async () => {
    await seeMe.cancelPairing();
    onClose();
  };

  return (
    <section class="pairing" aria-labelledby="pairing-title">
      <h2 id="pairing-title">Add someone</h2>
      {step.mode !== "start" && step.mode !== "done" && <p class="step-count">Step {step.step} of 3</p>}
      {step.mode === "start" && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void showMine();
          }}
        >
          <p>
            Stand next to each other with both phones. One of you shows a code, the other scans it; then you swap. It
            takes three codes.
          </p>
          <label for="peer-name">Their name (only you see it)</label>
          <input id="peer-name" value={name} required maxLength={40} onInput={(e) => setName(e.currentTarget.value)} />
          <div class="choice">
            <button type="submit" class="primary big" disabled={busy || !name.trim()}>
              Show my code
            </button>
            <button
              type="button"
              class="big"
              disabled={!name.trim()}
              onClick={() => setStep({ mode: "scan", step: 1 })}
            >
              Scan their code
            </button>
          </div>
          <p class="hint">Either of you can start: the other one then taps the other button.</p>
        </form>
      )}
      {step.mode === "show" && (
        <>
          <p class="instruction">
            {step.step === 1 && `Let ${who} scan this code with see-me. Next, scan the code ${who} shows you.`}
            {step.step === 2 && `Let ${who} scan this code. Next, scan the last code ${who} shows you.`}
            {step.step === 3 && `Last step: let ${who} scan this code. You are connected as soon as they do.`}
          </p>
          <p class="code-owner">{state.myName}'s code</p>
          <QrCode code={step.qr} owner={`${state.myName}'s see-me code, step ${step.step}`} />
          {step.step === 1 && (
            <button type="button" class="primary big" onClick={() => setStep({ mode: "scan", step: 2 })}>
              Next: scan {who}'s code
            </button>
          )}
          {step.step === 2 && (
            <button type="button" class="primary big" onClick={() => setStep({ mode: "scan", step: 3 })}>
              Next: scan {who}'s last code
            </button>
          )}
          {step.step === 3 && <p role="status">Waiting for {who} to scan…</p>}
        </>
      )}
      {step.mode === "scan" && (
        <>
          <p class="instruction">
            {step.step === 1 && `Point the camera at the code on ${who}'s phone.`}
            {step.step === 2 && `Point the camera at the code ${who} shows now.`}
            {step.step === 3 && `Point the camera at ${who}'s last code.`}
          </p>
          <CodeScanner key={step.step} onCode={(code) => void scanned(code)} busy={busy} />
        </>
      )}
      {step.mode === "done" && (
        <>
          <p role="status" class="success">
            You and {who} are connected.
          </p>
          <button type="button" class="primary big" onClick={onClose}>
            Done
          </button>
        </>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {step.mode !== "done" && (
        <button type="button" class="link" onClick={() => void cancel()}>
          Cancel
        </button>
      )}
    </section>
  );
}
