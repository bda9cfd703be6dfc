import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { ConnectionService } from "@seeme/contracts/connection";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { startTracing, tracingEnabled, type Tracing } from "@seeme/runtime/tracing";
import { registerAndSignIn, type TestAccount } from "@seeme/testkit/accounts";
import { newPairId, pairAccounts } from "@seeme/testkit/pairing";
import { waitUntil } from "@seeme/testkit/wait";
import { startStack, type Stack } from "../stack.js";

/**
 * Issue #13 item 8: one Sync through the real gateway is ONE trace spanning the
 * gateway, the location service, PostgreSQL (Prisma's spans) and NATS (the inbox
 * hint's publish and its delivery to the recipient's Subscribe stream), and no
 * span carries an account id, a pairID, a token or a blob.
 */
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let stack: Stack;
let A: TestAccount;
let B: TestAccount;
let pairIds: { initiatorPairId: string; recipientPairId: string };
const BLOB_TEXT = "meet me at the north gate";

const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  tracing = await startTracing({ serviceName: "see-me-test", spanProcessors: [new SimpleSpanProcessor(exporter)] });
  stack = await startStack("tracing");
  const transport = createGrpcTransport({ baseUrl: stack.gatewayUrl });
  const identity = createClient(IdentityService, transport);
  A = await registerAndSignIn(identity);
  B = await registerAndSignIn(identity);
  pairIds = await pairAccounts(createClient(ConnectionService, transport), A, B, {
    initiatorPairId: newPairId(),
    recipientPairId: newPairId(),
  });
}, 30_000);

afterAll(async () => {
  await stack?.stop();
  await tracing?.shutdown();
});

function location(): Client<typeof LocationService> {
  return createClient(LocationService, createGrpcTransport({ baseUrl: stack.gatewayUrl }));
}

it("an event crosses NATS in its trace: the relay's publish and the location consumer's processing", async () => {
  // Pairing recorded connection.confirmed; connection's outbox relay published it, location consumed it.
  const named = (name: string) => exporter.getFinishedSpans().find((s) => s.name === name);
  await waitUntil(() => named("process connection.v1.connection.confirmed") !== undefined);
  const publish = named("publish connection.v1.connection.confirmed");
  const consume = named("process connection.v1.connection.confirmed");
  expect(publish?.kind).toBe(SpanKind.PRODUCER);
  expect(consume?.kind).toBe(SpanKind.CONSUMER);
  expect(consume!.spanContext().traceId).toBe(publish!.spanContext().traceId);
  expect(consume!.parentSpanContext?.spanId).toBe(publish!.spanContext().spanId);
  // The consumer's database work belongs to the same trace.
  const traceId = consume!.spanContext().traceId;
  const inEventTrace = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
  expect(inEventTrace.some((s) => s.name.startsWith("prisma:"))).toBe(true);
});

it("a Sync is one trace: gateway → location → PostgreSQL, and across NATS to the Subscribe stream", async () => {
  expect(tracingEnabled()).toBe(true);
  // B listens, so the hint the Sync publishes over NATS has a receiver.
  const abort = new AbortController();
  let caughtUp = false;
  let received = 0;
  const stream = (async () => {
    try {
      for await (const event of location().subscribe({}, { ...auth(B.sessionToken), signal: abort.signal })) {
        if (event.event.case === "caughtUp") caughtUp = true;
        if (event.event.case === "packet") received++;
      }
    } catch {
      // Ends with the abort below.
    }
  })();
  await waitUntil(() => caughtUp);
  // The gateway holds B's stream; location's part, the backlog read, ended at caught_up.
  const readSpan = (s: ReadableSpan) =>
    s.attributes["seeme.component"] === "service" && s.attributes["rpc.method"] === "Subscribe";
  await waitUntil(() => exporter.getFinishedSpans().some(readSpan));
  const backlogRead = exporter.getFinishedSpans().find(readSpan)!;
  exporter.reset();

  const sent = await location().sync(
    { data: [{ pairId: pairIds.recipientPairId, packetId: 1, blob: new TextEncoder().encode(BLOB_TEXT) }] },
    auth(A.sessionToken),
  );
  expect(sent.syncMeta.length).toBe(1);
  await waitUntil(() => received === 1);
  const isHintDelivery = (s: ReadableSpan) => s.name === "process seeme.location.v1.InboxUpdated";
  await waitUntil(() => exporter.getFinishedSpans().some(isHintDelivery));
  abort.abort();
  await stream;

  const spans = exporter.getFinishedSpans();
  const syncSpan = (component: string) => (s: ReadableSpan) =>
    s.attributes["seeme.component"] === component && s.attributes["rpc.method"] === "Sync";
  const gateway = spans.find(syncSpan("gateway"));
  expect(gateway).toBeDefined();
  expect(gateway!.kind).toBe(SpanKind.SERVER);
  expect(gateway!.parentSpanContext).toBeUndefined();
  const traceId = gateway!.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
  const byId = new Map(inTrace.map((s) => [s.spanContext().spanId, s]));
  const ancestors = (span: ReadableSpan): ReadableSpan[] => {
    const parent = span.parentSpanContext ? byId.get(span.parentSpanContext.spanId) : undefined;
    return parent ? [parent, ...ancestors(parent)] : [];
  };

  // The location service continued the gateway's trace (through gRPC metadata).
  const service = inTrace.find(syncSpan("service"));
  expect(service).toBeDefined();
  expect(service!.attributes["rpc.service"]).toBe("seeme.location.v1.LocationService");
  expect(ancestors(service!)).toContain(gateway);

  // PostgreSQL: Prisma's operation and SQL spans, under the location span.
  const database = inTrace.filter((s) => s.name.startsWith("prisma:"));
  expect(database.length).toBeGreaterThan(0);
  const queries = database.filter((s) => s.name.includes("db_query"));
  expect(queries.length).toBeGreaterThan(0);
  for (const span of database) expect(ancestors(span)).toContain(service);

  // NATS: the hint's publish and its delivery to B's stream, same trace (W3C headers).
  const publish = inTrace.find((s) => s.name === "publish seeme.location.v1.InboxUpdated");
  const delivery = inTrace.find(isHintDelivery);
  expect(publish?.kind).toBe(SpanKind.PRODUCER);
  expect(delivery?.kind).toBe(SpanKind.CONSUMER);
  expect(ancestors(publish!)).toContain(service);
  expect(delivery!.parentSpanContext?.spanId).toBe(publish!.spanContext().spanId);

  // B's Subscribe stream (ended by the abort above) is a trace of its own: the gateway's span, and
  // under it location's backlog read.
  const gatewayStreamSpan = (s: ReadableSpan) =>
    s.attributes["seeme.component"] === "gateway" && s.attributes["rpc.method"] === "Subscribe";
  await waitUntil(() => exporter.getFinishedSpans().some(gatewayStreamSpan));
  const gatewayStream = exporter.getFinishedSpans().find(gatewayStreamSpan)!;
  expect(backlogRead.parentSpanContext?.spanId).toBe(gatewayStream.spanContext().spanId);
  expect(gatewayStream.spanContext().traceId).not.toBe(traceId);
});

it("a Subscribe over Connect and HTTP/1.1 (as browsers and the SDK open it) is a trace too: location's backlog read under the gateway's span", async () => {
  const earlier = new Set(exporter.getFinishedSpans());
  const connect = createClient(
    LocationService,
    createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" }),
  );
  const abort = new AbortController();
  let caughtUp = false;
  const stream = (async () => {
    try {
      for await (const event of connect.subscribe({}, { ...auth(B.sessionToken), signal: abort.signal })) {
        if (event.event.case === "caughtUp") caughtUp = true;
      }
    } catch {
      // Ends with the abort below.
    }
  })();
  await waitUntil(() => caughtUp);
  abort.abort();
  await stream;
  const isSubscribe = (component: string) => (s: ReadableSpan) =>
    s.attributes["seeme.component"] === component && s.attributes["rpc.method"] === "Subscribe";
  const newSpans = () => exporter.getFinishedSpans().filter((s) => !earlier.has(s));
  await waitUntil(() => newSpans().some(isSubscribe("gateway")));
  const spans = newSpans();
  const gatewayStream = spans.find(isSubscribe("gateway"))!;
  const backlogRead = spans.find(isSubscribe("service"));
  expect(gatewayStream.parentSpanContext).toBeUndefined();
  expect(backlogRead?.spanContext().traceId).toBe(gatewayStream.spanContext().traceId);
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const ancestors = (span: ReadableSpan): ReadableSpan[] => {
    const parent = span.parentSpanContext ? byId.get(span.parentSpanContext.spanId) : undefined;
    return parent ? [parent, ...ancestors(parent)] : [];
  };
  expect(ancestors(backlogRead!)).toContain(gatewayStream);
});

it("no span names or attributes carry account ids, pairIDs, tokens or blobs", () => {
  // Every span this suite produced, including registration, sign-in and pairing.
  const spans = exporter.getFinishedSpans();
  expect(spans.length).toBeGreaterThan(5);
  const secrets = [
    A.accountId,
    B.accountId,
    A.sessionToken,
    B.sessionToken,
    pairIds.initiatorPairId,
    pairIds.recipientPairId,
    BLOB_TEXT,
    Buffer.from(BLOB_TEXT).toString("base64"),
  ];
  const texts = spans.flatMap((s) => [
    s.name,
    ...Object.values(s.attributes).map(String),
    ...s.events.flatMap((e) => [e.name, ...Object.values(e.attributes ?? {}).map(String)]),
  ]);
  expect(texts.length).toBeGreaterThan(spans.length);
  for (const text of texts) {
    for (const secret of secrets) expect(text).not.toContain(secret);
    // Any account id (a UUID) or pairID (40 × [A-Za-z0-9]) at all, not only this suite's.
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i);
    expect(text).not.toMatch(/(^|[^A-Za-z0-9])[A-Za-z0-9]{40}($|[^A-Za-z0-9])/);
  }
});

it("health probes and outbox polls are not traced (they would bury the traces worth reading)", async () => {
  // Long enough for several probes (every 200 ms here) and at least one relay poll (every second).
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const spans = exporter.getFinishedSpans();
  expect(spans.filter((s) => s.attributes["db.query.text"] === "SELECT 1")).toEqual([]);
  expect(spans.filter((s) => s.attributes.model === "OutboxEvent" && s.attributes.method === "findMany")).toEqual([]);
});
