import type { MessageInitShape } from "@bufbuild/protobuf";
import type { IncomingPacket, SubscribeResponseSchema } from "@seeme/contracts/location";
import { BoundedSet } from "./bounded-set.js";
import type { LiveHub } from "./live-hub.js";

export type SubscribeEvent = MessageInitShape<typeof SubscribeResponseSchema>;

/**
 * Set by the gateway on its call to location's Subscribe when it holds the device's stream
 * itself: location sends what is queued, `caught_up`, and ends the call. The gateway never
 * passes a client's headers on, so only a service can ask for it.
 */
export const BACKLOG_ONLY_HEADER = "x-seeme-backlog-only";

// Hinted packets a stream holds while its client does not read; beyond, it re-reads its backlog.
const MAX_BUFFERED_PACKETS = 1000;
// Enough to remember a full backlog; older keys are forgotten first.
const REMEMBERED_KEYS = 20_000;

const keyOf = (packet: IncomingPacket) => `${packet.pairId}/${packet.packetId}`;

export interface LiveStreamOptions {
  hub: LiveHub;
  accountId: string;
  /** Ends the stream (the client left, the session ended, shutdown). */
  signal: AbortSignal;
  /**
   * What is queued for the account, oldest first: location reads its database,
   * the gateway reads location's Subscribe up to `caught_up`. Read once when the
   * stream opens and again whenever hints may have been lost.
   */
  backlog(): AsyncIterable<IncomingPacket>;
}

/**
 * One Subscribe stream's events: the queued backlog, `caught_up`, then live
 * packets as the hub announces them. The stream joins the hub before the
 * backlog is read, so nothing stored in between is missed; packets seen twice
 * (in the backlog and in a hint) are sent once. An idle stream costs no read
 * and no timer: it re-reads its backlog only when the hub says hints may have
 * been lost (a gap in a publisher's numbering, NATS down or back).
 *
 * A client that stops reading must not make the process hold its traffic: at
 * most MAX_BUFFERED_PACKETS hinted packets wait in memory; past that the buffer
 * is dropped and the stream re-reads its backlog (the database is the source of
 * truth) once the client reads again.
 */
export async function* liveStream(options: LiveStreamOptions): AsyncGenerator<SubscribeEvent> {
  const { hub, accountId, signal } = options;
  const live: IncomingPacket[] = [];
  // Set when the buffer overflowed or hints may have been lost: the backlog is read instead.
  let resync = false;
  let wake: (() => void) | undefined;
  const leave = hub.add(accountId, {
    packets(packets) {
      if (resync) return;
      if (live.length + packets.length > MAX_BUFFERED_PACKETS) {
        live.length = 0;
        resync = true;
      } else {
        live.push(...packets);
      }
      wake?.();
    },
    reread() {
      live.length = 0;
      resync = true;
      wake?.();
    },
  });
  // Keys of packets this stream already sent, bounded so a long stream stays small.
  const sent = new BoundedSet<string>(REMEMBERED_KEYS);
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);

  async function* backlog(): AsyncGenerator<SubscribeEvent> {
    for await (const packet of options.backlog()) {
      if (sent.add(keyOf(packet))) yield { event: { case: "packet", value: packet } };
      if (signal.aborted) return;
    }
  }

  try {
    yield* backlog();
    yield { event: { case: "caughtUp", value: true } };
    while (!signal.aborted) {
      if (live.length === 0 && !resync) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      if (signal.aborted) return;
      for (const packet of live.splice(0))
        if (sent.add(keyOf(packet))) yield { event: { case: "packet", value: packet } };
      if (resync) {
        // Hints arriving during the re-read are buffered again; sent keys drop repeats.
        resync = false;
        yield* backlog();
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    leave();
  }
}
