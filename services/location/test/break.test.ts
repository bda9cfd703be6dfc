import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { ConnectionService } from "@seeme/contracts/connection";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { parseDatabaseUrl } from "@seeme/runtime/db";
import { registerAndSignIn, type TestAccount } from "@seeme/testkit/accounts";
import { pairAccounts } from "@seeme/testkit/pairing";
import { startStack, type Stack } from "../../../test/stack.js";
import { blob, newPairId, waitUntil } from "./helpers.js";

/**
 * SPEC §8 "Break is immediate", over the real gateway: once BreakConnection or
 * DeleteAccount has answered, the relay refuses both pairIDs and their queues
 * are empty, without waiting for the NATS event.
 */
let stack: Stack;
let pool: pg.Pool;
let transport: ReturnType<typeof createGrpcTransport>;
let identity: Client<typeof IdentityService>;
let connections: Client<typeof ConnectionService>;
let location: Client<typeof LocationService>;

const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
type Device = TestAccount & { pairId: string };

beforeAll(async () => {
  stack = await startStack("location-break", {
    env: {
      INITIATE_BURST: "100000",
      INITIATE_PER_MINUTE: "100000",
      MAX_PENDING_INVITES: "10000",
      SENDER_PACKET_BURST: "100000",
      RECIPIENT_PACKET_BURST: "100000",
      IDENTITY_RATE_LIMIT_ACCOUNT_BURST: "100000",
    },
  });
  transport = createGrpcTransport({ baseUrl: stack.gatewayUrl });
  identity = createClient(IdentityService, transport);
  connections = createClient(ConnectionService, transport);
  location = createClient(LocationService, transport);
  const target = parseDatabaseUrl(stack.databaseUrls.location);
  pool = new pg.Pool({ connectionString: target.connectionString, max: 2, options: `-c search_path=${target.schema}` });
}, 30_000);

afterAll(async () => {
  await pool?.end();
  await stack?.stop();
});

async function device(): Promise<Device> {
  return { ...(await registerAndSignIn(identity)), pairId: newPairId() };
}

/** A new connection between the two accounts under fresh pairIDs (routed at the relay once its event is consumed). */
async function connectOnly(a: Device, b: Device): Promise<{ aPair: string; bPair: string }> {
  const { initiatorPairId: aPair, recipientPairId: bPair } = await pairAccounts(connections, a, b);
  return { aPair, bPair };
}

const routed = async (pairIds: string[]) =>
  Number((await pool.query("SELECT count(*) AS n FROM route WHERE pair_id = ANY($1)", [pairIds])).rows[0].n) ===
  pairIds.length;

/** `count` connections made 4 at a time (within the connection service's database pool), all routed at the relay. */
async function connectMany(a: Device, b: Device, count: number): Promise<Array<{ aPair: string; bPair: string }>> {
  const made: Array<{ aPair: string; bPair: string }> = [];
  while (made.length < count) {
    made.push(
      ...(await Promise.all(Array.from({ length: Math.min(4, count - made.length) }, () => connectOnly(a, b)))),
    );
  }
  await waitUntil(() => routed(made.flatMap((pair) => [pair.aPair, pair.bPair])), 30_000);
  return made;
}

async function connect(a: Device, b: Device): Promise<{ aPair: string; bPair: string }> {
  return (await connectMany(a, b, 1))[0];
}

const queued = async (pairIds: string[]) =>
  Number((await pool.query("SELECT count(*) AS n FROM packet WHERE recipient_pair_id = ANY($1)", [pairIds])).rows[0].n);

/** The outcome of a Sync: "accepted" or the refusal's code name. */
async function attempt(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "accepted";
  } catch (error) {
    return error instanceof ConnectError ? Code[error.code] : String(error);
  }
}

it("200 break-then-send races: every send and read by either side right after Break returns is refused, and the queues are already empty", async () => {
  const A = await device();
  const B = await device();
  const outcomes = new Map<string, number>();
  const count = (outcome: string) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  let emptyAtReturn = 0;
  const pairs = await connectMany(A, B, 200);
  // One packet queued each way on every connection before the breaks.
  await location.sync(
    { data: pairs.map(({ bPair }) => ({ pairId: bPair, packetId: 1, blob: blob("queued for B") })) },
    auth(A.sessionToken),
  );
  await location.sync(
    { data: pairs.map(({ aPair }) => ({ pairId: aPair, packetId: 1, blob: blob("queued for A") })) },
    auth(B.sessionToken),
  );
  expect(await queued(pairs.flatMap((pair) => [pair.aPair, pair.bPair]))).toBe(400);
  for (const [round, { aPair, bPair }] of pairs.entries()) {
    const [breaker, breakerPair] = round % 2 === 0 ? [A, aPair] : [B, bPair];
    await connections.breakConnection({ pairId: breakerPair }, auth(breaker.sessionToken));
    // The very next thing after Break answers: both sides send and read at once.
    const results = await Promise.all([
      attempt(() =>
        location.sync({ data: [{ pairId: bPair, packetId: 2, blob: blob("after break") }] }, auth(A.sessionToken)),
      ),
      attempt(() =>
        location.sync({ data: [{ pairId: aPair, packetId: 2, blob: blob("after break") }] }, auth(B.sessionToken)),
      ),
      attempt(() => location.sync({ lastPacketsReceived: [{ pairId: bPair, packetIds: [1] }] }, auth(B.sessionToken))),
      attempt(() => location.sync({ lastPacketsReceived: [{ pairId: aPair, packetIds: [1] }] }, auth(A.sessionToken))),
    ]);
    if ((await queued([aPair, bPair])) === 0) emptyAtReturn++;
    results.forEach(count);
  }
  expect(Object.fromEntries(outcomes)).toEqual({ PermissionDenied: 800 });
  expect(emptyAtReturn).toBe(200);
  // Nothing of the broken connections reaches either device afterwards.
  for (const who of [A, B]) {
    const { data } = await location.sync({}, auth(who.sessionToken));
    expect(data.filter((p) => p.pairId !== "SERVER")).toEqual([]);
  }
}, 600_000);

it("after DeleteAccount returns, the peer's sends to the deleted account are refused and both queues are empty", async () => {
  const outcomes = new Map<string, number>();
  const count = (outcome: string) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  for (let round = 0; round < 20; round++) {
    const A = await device();
    const B = await device();
    const { aPair, bPair } = await connect(A, B);
    await location.sync({ data: [{ pairId: bPair, packetId: 1, blob: blob("queued for B") }] }, auth(A.sessionToken));
    await location.sync({ data: [{ pairId: aPair, packetId: 1, blob: blob("queued for A") }] }, auth(B.sessionToken));
    await identity.deleteAccount({}, auth(A.sessionToken));
    const results = await Promise.all([
      attempt(() =>
        location.sync(
          { data: [{ pairId: aPair, packetId: 2, blob: blob("to a deleted account") }] },
          auth(B.sessionToken),
        ),
      ),
      attempt(() => location.sync({ lastPacketsReceived: [{ pairId: bPair, packetIds: [1] }] }, auth(B.sessionToken))),
    ]);
    expect(await queued([aPair, bPair])).toBe(0);
    results.forEach(count);
    // The deleted side has no session left; if the gateway still honoured a cached one, the relay refuses it.
    const deleted = await attempt(() =>
      location.sync({ data: [{ pairId: bPair, packetId: 2, blob: blob("x") }] }, auth(A.sessionToken)),
    );
    expect(["Unauthenticated", "PermissionDenied"]).toContain(deleted);
  }
  expect(Object.fromEntries(outcomes)).toEqual({ PermissionDenied: 40 });
}, 300_000);
