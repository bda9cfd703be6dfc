import { LocationAdminService } from "@seeme/contracts/location";
import { createGrpcClient } from "@seeme/runtime/grpc";
import { goTo, openPhone, pairedPhones, type Phone, startWebStack, type WebStack } from "./harness.js";

/**
 * Offline first: Alice loses the network, presses SOS, and the app queues it;
 * when the network returns it goes out on its own and Bob's phone shows it.
 */
let web: WebStack;
let alice: Phone;
let bob: Phone;

beforeAll(async () => {
  web = await startWebStack("e2e_web_offline");
  [alice, bob] = await pairedPhones(
    openPhone(web.url, "alice-offline", { latitude: -33.8568, longitude: 151.2153 }),
    openPhone(web.url, "bob-offline"),
  );
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
  await alert.getByRole("button", { name: "I've seen it" }).click();
}, 60_000);

test("when the live stream drops, the header says Reconnecting… until it is back, and nothing is lost", async () => {
  const header = (phone: Phone) => phone.page.getByRole("banner").getByRole("status");
  await header(bob).filter({ hasText: "Live" }).waitFor();
  await web.stack.stopService("gateway");
  await header(bob).filter({ hasText: "Reconnecting…" }).waitFor({ timeout: 10_000 });
  await web.stack.startService("gateway");
  await header(bob).filter({ hasText: "Live" }).waitFor({ timeout: 20_000 });
  await header(alice).filter({ hasText: "Live" }).waitFor({ timeout: 20_000 });

  // Alice's "on my way home" after the reconnect reaches Bob live, shown as a notice and in the thread.
  await alice.page.getByRole("button", { name: "On my way home" }).click();
  await alice.page.getByText("On my way home: Sent to Bob.").waitFor({ timeout: 10_000 });
  await bob.page.getByRole("status").filter({ hasText: "Alice: On my way home" }).waitFor({ timeout: 5000 });
  await goTo(bob, "Messages");
  await bob.page.getByRole("listitem").filter({ hasText: "Status: On my way home" }).waitFor();
}, 60_000);

test("the service worker keeps the app: it opens again with no network at all", async () => {
  await alice.page.waitForFunction(async () =>
    Boolean(await navigator.serviceWorker.getRegistration()?.then((r) => r?.active)),
  );
  await alice.context.setOffline(true);
  await alice.page.reload();
  await alice.page.getByRole("navigation", { name: "Screens" }).waitFor({ timeout: 10_000 });
  await alice.page.getByRole("banner").getByRole("status").filter({ hasText: "Offline" }).waitFor();
  await goTo(alice, "People");
  await alice.page.getByRole("listitem").filter({ hasText: "Bob" }).getByText("Connected").waitFor();
  await alice.context.setOffline(false);
}, 30_000);

test("a position older than 15 minutes is faded and says how old it is", async () => {
  await bob.page.clock.install();
  await bob.page.reload();
  await goTo(bob, "Map");
  const alice = bob.page.getByRole("region", { name: "People" }).getByRole("listitem").filter({ hasText: "Alice" });
  await alice.getByText("just now").waitFor({ timeout: 10_000 });
  await bob.page.clock.fastForward("16:00");
  await alice.getByText("16 min ago (stale)").waitFor({ timeout: 5000 });
  await bob.page.getByRole("img", { name: /^Alice, .*16 min ago \(stale\)$/ }).waitFor();
  // Faded, not only labelled: the marker is drawn at half opacity.
  const opacity = await bob.page
    .getByRole("img", { name: /^Alice, / })
    .evaluate((element) => getComputedStyle(element).opacity);
  expect(Number(opacity)).toBeLessThan(1);
}, 30_000);

test("a server message (type 6) shows as a banner until dismissed", async () => {
  const admin = createGrpcClient(LocationAdminService, web.stack.address("location"), {
    headers: () => ({ authorization: `Bearer ${web.stack.adminToken}` }),
  });
  try {
    await admin.queueServerMessage({ subType: 1, text: "Maintenance tonight from 22:00 to 22:15." });
  } finally {
    admin.close();
  }
  const banner = alice.page.getByRole("complementary", { name: "Messages from see-me" });
  await banner.getByText("Planned maintenance: Maintenance tonight from 22:00 to 22:15.").waitFor({ timeout: 10_000 });
  await banner.getByRole("button", { name: "Dismiss" }).click();
  await banner.waitFor({ state: "hidden" });
  await alice.page.reload();
  await alice.page.getByRole("navigation", { name: "Screens" }).waitFor();
  await expect(alice.page.getByRole("complementary", { name: "Messages from see-me" }).count()).resolves.toBe(0);
}, 30_000);
