import { ReplayGuard } from "../src/replay-guard.js";
import { expectClientError } from "./helpers.js";

describe("ReplayGuard", () => {
  it("accepts each packetID once per peer", () => {
    const guard = new ReplayGuard();
    guard.accept("peer-a", 1);
    guard.accept("peer-a", 2);
    guard.accept("peer-b", 1);
    expectClientError(() => guard.accept("peer-a", 2), "replay", /duplicate/);
    expect(guard.check("peer-a", 1)).toBe("duplicate");
    expect(guard.check("peer-a", 3)).toBe("fresh");
  });

  it("tolerates reordering inside the window and refuses anything older", () => {
    const guard = new ReplayGuard(10);
    guard.accept("p", 100);
    guard.accept("p", 95);
    guard.accept("p", 91);
    expect(guard.check("p", 90)).toBe("too-old");
    expectClientError(() => guard.accept("p", 90), "replay", /too-old/);
    expectClientError(() => guard.accept("p", 95), "replay", /duplicate/);
    guard.accept("p", 105);
    expect(guard.check("p", 95)).toBe("too-old");
    expect(guard.check("p", 96)).toBe("fresh");
  });

  it("does not record a packetID on check", () => {
    const guard = new ReplayGuard();
    expect(guard.check("p", 4)).toBe("fresh");
    expect(guard.check("p", 4)).toBe("fresh");
    guard.accept("p", 4);
    expect(guard.check("p", 4)).toBe("duplicate");
  });

  it("survives a restart through its snapshot", () => {
    const guard = new ReplayGuard(50);
    [10, 40, 12, 11, 61].forEach((id) => guard.accept("p", id));
    // Ids in order, not in the order they came: the same state always saves the same snapshot.
    const snapshot = JSON.parse(JSON.stringify(guard.snapshot()));
    expect(snapshot).toEqual({ windowSize: 50, peers: { p: { highest: 61, seen: [12, 40, 61] } } });
    const restored = ReplayGuard.restore(snapshot);
    expect(restored.check("p", 40)).toBe("duplicate");
    expect(restored.check("p", 11)).toBe("too-old");
    expect(restored.check("p", 41)).toBe("fresh");
  });

  it("works up to the largest packetID and refuses invalid ones", () => {
    const guard = new ReplayGuard();
    guard.accept("p", 0xffff_ffff);
    expectClientError(() => guard.accept("p", 0xffff_ffff), "replay");
    expectClientError(() => guard.check("p", 2 ** 32), "invalid-packet-id");
    expectClientError(() => guard.check("p", 1.5), "invalid-packet-id");
    expect(() => new ReplayGuard(0)).toThrow(/windowSize/);
  });

  it("takes a window of one packetID, and checks every id of a snapshot it restores (mutation testing, #19)", () => {
    const guard = new ReplayGuard(1);
    guard.accept("peer", 5);
    expect(guard.check("peer", 4)).toBe("too-old");
    expect(guard.check("peer", 6)).toBe("fresh");
    expectClientError(() => new ReplayGuard(0), "invalid-payload", /windowSize/);
    expectClientError(
      () => ReplayGuard.restore({ windowSize: 8, peers: { peer: { highest: -1, seen: [] } } }),
      "invalid-packet-id",
      /\] highest must/,
    );
    expectClientError(
      () => ReplayGuard.restore({ windowSize: 8, peers: { peer: { highest: 9, seen: [9, 1.5] } } }),
      "invalid-packet-id",
      /\] seen packetId must/,
    );
  });
});
