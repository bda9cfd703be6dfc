import { KnownSenders } from "../src/rpc/sync/authorise.js";

// The memory of senders that passed the access check (rpc/sync/authorise.ts) is bounded, so a
// replica's memory does not grow with every (sender, pairID) it ever served.
test("remembers at most its limit of (sender, pairID) pairs, forgetting the oldest first", () => {
  const known = new KnownSenders(2);
  known.add("alice", ["p1", "p2"]);
  expect(known.has("alice", ["p1", "p2"])).toBe(true);
  known.add("bob", ["p3"]);
  expect([known.has("alice", ["p1"]), known.has("alice", ["p2"]), known.has("bob", ["p3"])]).toEqual([
    false,
    true,
    true,
  ]);
  // A pair is its sender's alone.
  expect(known.has("bob", ["p2"])).toBe(false);
});
