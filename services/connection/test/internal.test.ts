import { Code } from "@connectrpc/connect";
import { bindTo, recipientProof } from "@seeme/testkit/pairing";
import { ConnectionInternalService } from "@seeme/contracts/connection";
import { CALLER_HEADER, signCaller } from "@seeme/runtime/caller";
import { createGrpcClient } from "@seeme/runtime/grpc";
import {
  clientAs,
  internalClient,
  newPairId,
  registerAccount,
  SECRET,
  startSuite,
  testClock,
  type Account,
} from "./helpers.js";

const clock = testClock();
let suite: Awaited<ReturnType<typeof startSuite>>;
const clients: Array<{ close(): void }> = [];

beforeAll(async () => {
  suite = await startSuite("internal", { now: clock.now });
});

afterAll(async () => {
  clients.forEach((c) => c.close());
  await suite.stop();
});

async function connect(a: Account, b: Account) {
  const ac = clientAs(suite.address, a.id);
  const bc = clientAs(suite.address, b.id);
  clients.push(ac, bc);
  const s = newPairId();
  const r = newPairId();
  const { serverSignature } = await ac.initiateConnection({
    senderPairId: s,
    recipientPairId: r,
    accountSignature: a.signInitiate(s, r),
    ...bindTo(r),
  });
  await bc.confirmConnection({ senderPairId: s, recipientPairId: r, serverSignature, ...recipientProof(s, r) });
  return { s, r };
}

test("ListAccountRoutes lists both sides of every connection of an account", async () => {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const c = registerAccount(suite.identity);
  const ab = await connect(a, b);
  const ca = await connect(c, a);
  await connect(b, c);
  const internal = internalClient(suite.address);
  clients.push(internal);
  const { routes } = await internal.listAccountRoutes({ accountId: a.id });
  expect(
    routes.map((r) => [r.initiatorAccountId, r.initiatorPairId, r.recipientAccountId, r.recipientPairId]).sort(),
  ).toEqual(
    [
      [a.id, ab.s, b.id, ab.r],
      [c.id, ca.s, a.id, ca.r],
    ].sort(),
  );
  expect(routes[0].packetLife!.seconds).toBe(BigInt(7 * 24 * 3600));
  expect((await internal.listAccountRoutes({ accountId: "nobody" })).routes).toEqual([]);
  await expect(internal.listAccountRoutes({ accountId: "" })).rejects.toMatchObject({
    code: Code.InvalidArgument,
    rawMessage: "account_id is required",
  });
});

test("ListRoutes pages through every connection exactly once", async () => {
  const accounts = Array.from({ length: 4 }, () => registerAccount(suite.identity));
  for (let i = 0; i < 4; i++) await connect(accounts[i], accounts[(i + 1) % 4]);
  const internal = internalClient(suite.address);
  clients.push(internal);
  const total = await suite.tables.count("connections");
  const seen: string[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const page = await internal.listRoutes({ pageSize: 2, pageToken });
    expect(page.routes.length).toBeLessThanOrEqual(2);
    seen.push(...page.routes.map((r) => r.connectionId));
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken !== "");
  expect(seen).toHaveLength(total);
  expect(new Set(seen).size).toBe(total);
  // No page after the last (when total is even, the last page is full yet carries no token).
  expect(pages).toBe(Math.ceil(total / 2));
  expect((await internal.listRoutes({})).routes).toHaveLength(total);
  // A last page of exactly page_size routes ends the listing: no token to an empty page.
  const whole = await internal.listRoutes({ pageSize: total });
  expect(whole.routes).toHaveLength(total);
  expect(whole.nextPageToken).toBe("");
  const first = await internal.listRoutes({ pageSize: 1 });
  const rest = await internal.listRoutes({ pageSize: total - 1, pageToken: first.nextPageToken });
  expect([first, rest].flatMap((p) => p.routes.map((r) => r.connectionId))).toEqual(seen);
  expect(rest.nextPageToken).toBe("");
  await expect(internal.listRoutes({ pageToken: "garbage" })).rejects.toMatchObject({
    code: Code.InvalidArgument,
    rawMessage: "page_token is not a token from a previous ListRoutes",
  });
});

test("the internal API refuses clients and account callers with PermissionDenied", async () => {
  const anonymous = createGrpcClient(ConnectionInternalService, suite.address);
  const asAccount = createGrpcClient(ConnectionInternalService, suite.address, {
    headers: () => ({ [CALLER_HEADER]: signCaller(SECRET, "someone") }),
  });
  clients.push(anonymous, asAccount);
  for (const client of [anonymous, asAccount]) {
    await expect(client.listRoutes({})).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(client.listAccountRoutes({ accountId: "someone" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
  }
});

test("ListConnections: newest first over many connections; those made in the same instant in connection-id order", async () => {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  // Two instants, three connections each (the clock is frozen between advances). Six
  // connections make a listing in id or storage order match by chance at most once in 720.
  const instants: string[][] = [];
  for (let instant = 0; instant < 2; instant++) {
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.push((await connect(a, b)).s);
    instants.push(made);
    clock.advance(1000);
  }
  const idOf = new Map(
    (await suite.tables.rows("connections")).map((row) => [row.initiator_pair_id as string, row.id as string]),
  );
  const byId = (pairIds: string[]) => [...pairIds].sort((x, y) => (idOf.get(x)! < idOf.get(y)! ? -1 : 1));
  const client = clientAs(suite.address, a.id);
  clients.push(client);
  expect((await client.listConnections({})).connections.map((c) => c.pairId)).toEqual([
    ...byId(instants[1]),
    ...byId(instants[0]),
  ]);
});
