import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

interface Props {
  /** What it sends, for the progress bar's name ("SOS"). */
  name: string;
  class: string;
  holdMs?: number;
  /** The id of the text that explains hold-or-tap (shown once for a group of these buttons). */
  describedBy: string;
  children: ComponentChildren;
  /** Held the whole time: send at once. */
  onHeld: () => void;
  /** A short press or click: ask first (the confirm dialog). */
  onTap: () => void;
}

/**
 * A button for the alarming statuses: press and hold (pointer, or Space/Enter
 * held down) to send at once with a visible progress bar, or tap to be asked
 * first. Letting go early sends nothing by itself, so a pocket press never
 * raises an alarm.
 */
export const HOLD_MS = 1500;

export function HoldButton({ name, class: className, holdMs = HOLD_MS, describedBy, children, onHeld, onTap }: Props) {
  const [progress, setProgress] = useState<number>();
  const started = useRef<number | undefined>(undefined);
  const frame = useRef<number | undefined>(undefined);
  const held = useRef(false);

  const stopTimer = () => {
    if (frame.current !== undefined) cancelAnimationFrame(frame.current);
    frame.current = undefined;
    started.current = undefined;
  };
  useEffect(() => stopTimer, []);

  const begin = () => {
    if (started.current !== undefined) return;
    held.current = false;
    started.current = performance.now();
    const tick = () => {
      if (started.current === undefined) return;
      const done = Math.min(1, (performance.now() - started.current) / holdMs);
      setProgress(done);
      if (done >= 1) {
        stopTimer();
        held.current = true;
        setProgress(undefined);
        onHeld();
        return;
      }
      frame.current = requestAnimationFrame(tick);
    };
    frame.current = requestAnimationFrame(tick);
  };
  /** Let go: before the end it was a tap (or a slip, when `tap` is false). */
  const end = (tap: boolean) => {
    const wasHolding = started.current !== undefined;
    stopTimer();
    setProgress(undefined);
    if (wasHolding && tap) onTap();
  };

  return (
    <div class="hold">
      <button
        type="button"
        class={className}
        aria-describedby={describedBy}
        onPointerDown={(e) => {
          if (e.button === 0) begin();
        }}
        onPointerUp={() => end(true)}
        onPointerLeave={() => end(false)}
        onPointerCancel={() => end(false)}
        onContextMenu={(e) => e.preventDefault()}
        onKeyDown={(e) => {
          if (e.key !== " " && e.key !== "Enter") return;
          // The browser would click at once (Enter) or on release (Space): the hold decides instead.
          e.preventDefault();
          if (!e.repeat) begin();
        }}
        onKeyUp={(e) => {
          if (e.key !== " " && e.key !== "Enter") return;
          e.preventDefault();
          end(true);
        }}
        onClick={(e) => {
          // Pointer and keys are handled above; a click with neither (assistive technology) asks first.
          if (e.detail === 0 && started.current === undefined && !held.current) onTap();
          held.current = false;
        }}
      >
        {children}
        {progress !== undefined && (
          <span
            class="hold-progress"
            role="progressbar"
            aria-label={`Holding ${name}`}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(progress * 100)}
            style={{ transform: `scaleX(${progress})` }}
          />
        )}
      </button>
    </div>
  );
}
