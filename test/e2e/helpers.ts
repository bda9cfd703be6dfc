import pg from "pg";
import { MemoryStorage, SeeMeClient, type InboxMessage } from "@seeme/client";
import { parseDatabaseUrl } from "@seeme/runtime/db";
import { waitFor } from "@seeme/testkit/health";
import type { Stack } from "@seeme/testkit/stack";

/** A device with in-memory storage, registered through the gateway. */
export async function newDevice(
  stack: Stack,
  options: { protocol?: "connect" | "grpc-web" } = {},
): Promise<SeeMeClient> {
  const client = new SeeMeClient({
    storage: new MemoryStorage(),
    gatewayUrl: stack.gatewayUrl,
    protocol: options.protocol,
    retry: { baseDelayMs: 50 },
  });
  await client.register();
  return client;
}

/** The whole QR handshake; returns each side's connection id (its own pairID). */
export async function pair(
  a: SeeMeClient,
  b: SeeMeClient,
  labels = { a: "B", b: "A" },
): Promise<{ a: string; b: string }> {
  const offer = await a.createOffer(labels.a);
  const answer = await b.answerOffer(offer.qr, labels.b);
  const invite = await a.initiate(answer.qr, offer.connection);
  await b.confirm(invite.qr);
  return { a: offer.connection, b: answer.connection };
}

/** Syncs `client` until `predicate` holds on its inbox (the 5/3 notice and packets arrive through NATS events). */
export async function syncUntil(
  client: SeeMeClient,
  predicate: (inbox: InboxMessage[]) => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<InboxMessage[]> {
  let inbox: InboxMessage[] = [];
  const held = await waitFor(
    async () => {
      await client.sync();
      inbox = await client.inbox();
      return predicate(inbox);
    },
    timeoutMs,
    100,
  );
  if (!held) throw new Error(`condition not reached; inbox: ${JSON.stringify(inbox.map((m) => m.kind))}`);
  return inbox;
}

/** A pg pool on the location service's schema, to look at what the relay stores. */
export function locationDatabase(stack: Stack): pg.Pool {
  const target = parseDatabaseUrl(stack.databaseUrls.location);
  return new pg.Pool({ connectionString: target.connectionString, max: 2, options: `-c search_path=${target.schema}` });
}
