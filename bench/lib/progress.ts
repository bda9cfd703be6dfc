/** Progress lines on stderr, so stdout stays the results table; silent when quiet (the smoke test). */
export interface Progress {
  (line: string): void;
  /** Elapsed seconds since the run started. */
  elapsed(): number;
}

export function createProgress(quiet = false): Progress {
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const say = ((line: string) => {
    if (!quiet) process.stderr.write(`[bench ${elapsed().toFixed(1).padStart(6)}s] ${line}\n`);
  }) as Progress;
  say.elapsed = elapsed;
  return say;
}
