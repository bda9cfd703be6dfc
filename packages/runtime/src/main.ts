import { ConfigError, PortInUseError } from "./config.js";
import { startTracing, type Tracing } from "./tracing.js";

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
  // Off (and nothing of the SDK loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const tracing: Promise<Tracing> = startTracing({ serviceName: name });
  let signalled = false;
  const onSignal = (signal: string) => {
    if (signalled) process.exit(1);
    signalled = true;
    process.stderr.write(`${name}: ${signal} received, stopping\n`);
    Promise.resolve(running?.stop())
      .then(() => tracing.then((started) => started.shutdown()))
      .then(
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
  tracing
    .then(() => start())
    .then(
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
        process.stderr.write(
          `${name}: failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
        );
        process.exit(1);
      },
    );
}
