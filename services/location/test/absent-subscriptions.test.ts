import { AbsentSubscriptions } from "../src/push/absent.js";

const at = (ms: number) => new Date(1_700_000_000_000 + ms);

it("remembers an account without a subscription for its time to live, then asks again", () => {
  const absent = new AbsentSubscriptions(5000);
  expect(absent.has("a", at(0))).toBe(false);
  absent.add("a", at(0));
  expect(absent.has("a", at(0))).toBe(true);
  expect(absent.has("a", at(4999))).toBe(true);
  expect(absent.has("a", at(5000))).toBe(false);
  // Expired entries are dropped: asked again until added again.
  expect(absent.has("a", at(1))).toBe(false);
  expect(absent.has("b", at(0))).toBe(false);
});

it("forgets an account at once when it registers", () => {
  const absent = new AbsentSubscriptions(5000);
  absent.add("a", at(0));
  absent.add("b", at(0));
  absent.forget("a");
  expect(absent.has("a", at(1))).toBe(false);
  expect(absent.has("b", at(1))).toBe(true);
});

it("with a time to live of zero remembers nothing", () => {
  const absent = new AbsentSubscriptions(0);
  absent.add("a", at(0));
  expect(absent.has("a", at(-1))).toBe(false);
});

it("keeps at most 100,000 accounts, forgetting the one added longest ago", () => {
  const absent = new AbsentSubscriptions(60_000);
  for (let i = 0; i <= 100_000; i++) absent.add(`account-${i}`, at(0));
  expect(absent.has("account-0", at(1))).toBe(false);
  expect(absent.has("account-1", at(1))).toBe(true);
  expect(absent.has("account-100000", at(1))).toBe(true);
  // Adding again moves an account to the back of the line.
  absent.add("account-1", at(0));
  absent.add("account-new", at(0));
  expect(absent.has("account-1", at(1))).toBe(true);
  expect(absent.has("account-2", at(1))).toBe(false);
});
