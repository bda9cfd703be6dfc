import { SyncTarget } from "@seeme/contracts/location";
import { readOutcome, type SyncRow } from "../src/db/sync.js";
import { respond } from "../src/rpc/sync/respond.js";
import type { CheckedSync } from "../src/validate.js";

// The Sync statement's rows come back in the order of today's query plan; the
// order the response promises (stored in sequence order, the inbox oldest
// first, ids and sender pairIDs sorted) must not hang on that plan. These feed
// the real row reader and response builder rows in an order PostgreSQL could
// return them in (UNION ALL and a join promise none), which the end-to-end
// suites cannot produce on demand.

function row(tag: SyncRow["tag"], fields: Partial<SyncRow>): SyncRow {
  return {
    tag,
    pair_id: "",
    packet_id: 0n,
    account_id: null,
    blob: null,
    type: 0,
    sub_type: 0,
    text: "",
    stored_at: new Date(0),
    expires_at: new Date(0),
    kind: 0,
    seq: 0n,
    ...fields,
  } as SyncRow;
}

const at = (ms: number) => new Date(1_800_000_000_000 + ms);

describe("readOutcome orders what the statement returns in any order", () => {
  test("stored packets come out in sequence order (seq beyond 2^53 compared exactly)", () => {
    const big = 2n ** 60n;
    const outcome = readOutcome([
      row("stored", { pair_id: "p-b", packet_id: 7n, account_id: "acc", seq: big + 1n, kind: 1 }),
      row("allowed", { kind: 1 }),
      row("stored", { pair_id: "p-a", packet_id: 9n, account_id: "acc", seq: 5n }),
      row("stored", { pair_id: "p-c", packet_id: 3n, account_id: "acc", seq: big }),
    ]);
    expect(outcome.allowed).toBe(true);
    expect(outcome.stored.map((s) => [s.pairId, s.packetId, s.held])).toEqual([
      ["p-a", 9, false],
      ["p-c", 3, false],
      ["p-b", 7, true],
    ]);
  });

  test("the inbox comes out by stored_at, then kind (server message before packet), then seq", () => {
    const outcome = readOutcome([
      row("inbox", { pair_id: "late", packet_id: 1n, stored_at: at(2), kind: 0, seq: 1n }),
      row("inbox", { pair_id: "same-time-packet-seq9", packet_id: 2n, stored_at: at(1), kind: 1, seq: 9n }),
      row("inbox", { pair_id: "same-time-packet-seq3", packet_id: 3n, stored_at: at(1), kind: 1, seq: 3n }),
      row("inbox", { pair_id: "same-time-server", packet_id: 4n, stored_at: at(1), kind: 0, seq: 50n }),
      row("inbox", { pair_id: "same-time-packet-seq2^60", packet_id: 5n, stored_at: at(1), kind: 1, seq: 2n ** 60n }),
      row("inbox", { pair_id: "earliest", packet_id: 6n, stored_at: at(0), kind: 1, seq: 99n }),
      row("allowed", { kind: 1 }),
    ]);
    expect(outcome.inbox.map((e) => e.packet.pairId)).toEqual([
      "earliest",
      "same-time-server",
      "same-time-packet-seq3",
      "same-time-packet-seq9",
      "same-time-packet-seq2^60",
      "late",
    ]);
  });
});

describe("respond sorts ids and sender pairIDs whatever order the outcome lists them in", () => {
  const checked = (outgoing: CheckedSync["outgoing"], acks: Map<string, number[]>): CheckedSync => ({
    outgoing,
    acks,
    receiptsSeen: new Map(),
    outgoingCount: outgoing.reduce((n, b) => n + b.packets.length, 0),
    pageSize: 10,
  });

  test("delivered, superseded and deleted ids ascend numerically; receipt-only sender pairIDs are sorted", () => {
    const response = respond(checked([], new Map([["mine", [30, 4, 200]]])), {
      outcome: {
        allowed: true,
        stored: [],
        deleted: [
          { pairId: "mine", packetId: 200 },
          { pairId: "mine", packetId: 4 },
          { pairId: "mine", packetId: 30 },
        ],
        delivered: [
          { pairId: "zeta", packetId: 10 },
          { pairId: "alpha", packetId: 100 },
          { pairId: "zeta", packetId: 9 },
          { pairId: "alpha", packetId: 20 },
        ],
        superseded: [
          { pairId: "mid", packetId: 11 },
          { pairId: "mid", packetId: 3 },
        ],
        inbox: [],
      },
      serverAcked: [],
    });
    const senders = response.syncMeta!.filter((m) => m.target === SyncTarget.SENDER);
    expect(senders.map((m) => [m.pairId, m.deliveredPackets, m.supersededPackets])).toEqual([
      ["alpha", [20, 100], []],
      ["mid", [], [3, 11]],
      ["zeta", [9, 10], []],
    ]);
    const recipients = response.syncMeta!.filter((m) => m.target === SyncTarget.RECIPIENT);
    expect(recipients.map((m) => [m.pairId, m.deletedPackets])).toEqual([["mine", [4, 30, 200]]]);
  });
});
