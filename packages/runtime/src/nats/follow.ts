import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "nats";
import type { Logger } from "pino";
import { streamName, type StreamName } from "@seeme/contracts/subjects";

export interface FollowOptions {
  /** First event to deliver: everything the stream stored since then, then live. */
  since: Date;
  /** Gets the subject without the prefix and the payload. */
  handler: (subject: string, data: Uint8Array) => void;
}

export interface FollowHandle {
  /** Resolves once every event stored when following began has been handled. */
  caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Reads a whole stream from a point in time on, in order, in this process
 * alone (an ordered consumer: ephemeral, nothing acknowledged, nothing shared
 * with other replicas). When the connection drops, nats.js recreates the
 * consumer after the last sequence it delivered, so events published while
 * this process was cut off arrive once NATS is reachable again.
 */
export async function followStream(
  deps: { js: JetStreamClient; jsm: JetStreamManager; prefix: string; log: Logger },
  stream: StreamName,
  opts: FollowOptions,
): Promise<FollowHandle> {
  const name = streamName(deps.prefix, stream);
  const strip = deps.prefix ? deps.prefix.length + 1 : 0;
  const { state } = await deps.jsm.streams.info(name);
  let markCaughtUp!: () => void;
  const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
  // Nothing stored since `since`: caught up at once; else once the last stored event is handled.
  const lastSeq = state.messages > 0 && Date.parse(state.last_ts) >= opts.since.getTime() ? state.last_seq : 0;
  if (lastSeq === 0) markCaughtUp();
  const consumer = await deps.js.consumers.get(name, {
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: opts.since.toISOString(),
  });
  const messages = await consumer.consume({
    callback: (m) => {
      try {
        opts.handler(m.subject.slice(strip), m.data);
      } catch (err) {
        deps.log.warn({ err, subject: m.subject }, "stream follower handler failed");
      }
      if (m.seq >= lastSeq) markCaughtUp();
    },
  });
  return {
    caughtUp,
    async stop() {
      await messages.close();
    },
  };
}
