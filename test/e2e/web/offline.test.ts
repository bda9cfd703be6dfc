import { createDevice, goTo, openPhone, pairByPasting, startWebStack, type Phone, type WebStack } from "./harness.js";

/**
 * Offline first: Alice loses the network, presses SOS, and the app queues it;
 * when the network returns it goes out on its own and Bob's phone shows it.
 */
let web: WebStack;
let alice: Phone;
let bob: Phone;

beforeAll(async () => {
  web = await startWebStack("e2e_web_offline");
  [alice, bob] = await Promise.all([openPhone(web.url, "alice-offline", { latitude: -33.8568, longitude: 151.2153 }), openPhone(web.url, "bob-offline")]);
  await Promise.all([createDevice(alice, "Alice"), createDevice(bob, "Bob")]);
  await pairByPasting(alice, bob, { a: "Alice", b: "Bob" });
}, 60_000);

afterAll(async () => {
  await alice?.close();
  await bob?.close();
  await web?.stop();
});

test("an SOS pressed offline is queued and reaches Bob when Alice is back online", async () => {
  await goTo(alice, "Status");
  await alice.context.setOffline(true);
  await alice.page.getByRole("status").filter({ hasText: "Offline" }).waitFor();
  await alice.page.getByRole("button", { name: "SOS", exact: true }).click();
  await alice.page.getByRole("dialog", { name: "Send SOS?" }).getByRole("button", { name: "Send SOS" }).click();
  await alice.page.getByText("SOS: Queued: it goes out as soon as the network is back.").waitFor({ timeout: 30_000 });
  // Nothing reached Bob while Alice was offline.
  await bob.page.waitForTimeout(500);
  await expect(bob.page.getByRole("alertdialog").count()).resolves.toBe(0);

  await alice.context.setOffline(false);
  const alert = bob.page.getByRole("alertdialog", { name: "SOS from Alice" });
  await alert.waitFor({ timeout: 15_000 });
  await expect(alert.getByText("Last location: -33.85680, 151.21530.").isVisible()).resolves.toBe(true);
}, 60_000);
