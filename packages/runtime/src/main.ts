import { ConfigError, PortInUseError } from "./config.js";

export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Process entry for every service: start, then stop cleanly on SIGINT/SIGTERM
 * and exit 0. A configuration error prints one line naming the variable and
 * exits 78 (EX_CONFIG); a taken port prints one line naming the variable to set
 * and exits 1; a second signal exits at once.
 */
export function runMain(name: string, start: () => Promise<Stoppable>): void {
  let running: Stoppable | undefined;
  let signalled = false;
  const onSignal = (signal: string) => {
    if (signalled) process.exit(1);
    signalled = true;
    process.stderr.write(`${name}: ${signal} received, stopping\n`);
    Promise.resolve(running?.stop()).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${name}: error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Through a promise so that a ConfigError thrown synchronously by loadConfig
  // (inside `start`) gets the one-line message and exit 78 too.
  Promise.resolve().then(start).then(
    (started) => {
      running = started;
      if (signalled) void started.stop().then(() => process.exit(0));
    },
    (error: unknown) => {
      if (error instanceof ConfigError) {
        process.stderr.write(`${name}: invalid configuration: ${error.message}\n`);
        process.exit(78);
      }
      if (error instanceof PortInUseError) {
        process.stderr.write(`${name}: ${error.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`${name}: failed to start: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
