import { goTo, openPhone, pairedPhones, type Phone, startWebStack, type WebStack } from "./harness.js";

/**
 * Two things a person does with the alarming statuses: send SOS by pressing and
 * holding (a short press only asks), and choose per connection what still
 * reaches them while their own location is hidden (SPEC §8; default: only the
 * calls for help).
 */
let web: WebStack;
let alice: Phone;
let bob: Phone;

beforeAll(async () => {
  web = await startWebStack("e2e_web_sos_hold");
  [alice, bob] = await pairedPhones(
    openPhone(web.url, "alice-hold", { latitude: 40.4168, longitude: -3.7038 }),
    openPhone(web.url, "bob-hold", { latitude: 40.42, longitude: -3.7 }),
  );
  await Promise.all([alice, bob].map((phone) => phone.page.getByRole("button", { name: "Done" }).click()));
}, 90_000);

afterAll(async () => {
  await alice?.close();
  await bob?.close();
  await web?.stop();
});

const acknowledge = async (phone: Phone, name: string) => {
  const alert = phone.page.getByRole("alertdialog", { name });
  await alert.waitFor({ timeout: 10_000 });
  await alert.getByRole("button", { name: "I've seen it" }).click();
  await alert.waitFor({ state: "hidden" });
};

test("SOS by holding: a short press asks first, holding Space 1.5 s sends at once, with progress shown", async () => {
  await goTo(alice, "Status");
  const sos = alice.page.getByRole("button", { name: "SOS", exact: true });
  await alice.page.getByText("Hold a button 1.5 s to send at once, or tap it to confirm first.").waitFor();

  // A tap only asks.
  await sos.click();
  const dialog = alice.page.getByRole("dialog", { name: "Send SOS?" });
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Cancel" }).click();

  // Held from the keyboard: the bar fills; let go early and it only asks, nothing is sent.
  await sos.focus();
  await alice.page.keyboard.down("Space");
  const bar = alice.page.getByRole("progressbar", { name: "Holding SOS" });
  await bar.waitFor();
  await alice.page.waitForTimeout(600);
  const midway = Number(await bar.getAttribute("aria-valuenow"));
  expect(midway).toBeGreaterThan(10);
  expect(midway).toBeLessThan(100);
  await alice.page.keyboard.up("Space");
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(bob.page.getByRole("alertdialog").count()).resolves.toBe(0);

  // Held to the end: sent without a question.
  await sos.focus();
  await alice.page.keyboard.down("Space");
  await alice.page.getByText("SOS: Sent to Bob.").waitFor({ timeout: 10_000 });
  await alice.page.keyboard.up("Space");
  await expect(dialog.count()).resolves.toBe(0);
  await acknowledge(bob, "SOS from Alice");

  // The same with a finger (pointer) on "I'm lost".
  const lost = alice.page.getByRole("button", { name: "I'm lost", exact: true });
  const box = (await lost.boundingBox())!;
  await alice.page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await alice.page.mouse.down();
  await alice.page.getByText("I'm lost: Sent to Bob.").waitFor({ timeout: 10_000 });
  await alice.page.mouse.up();
  await acknowledge(bob, "I'm lost from Alice");
}, 60_000);

test("while Bob hides his location, Alice's calls for help still reach him; what else is his choice", async () => {
  await goTo(bob, "Map");
  await bob.page.getByRole("switch", { name: "Share my location" }).click();
  await bob.page.getByRole("switch", { name: "Share my location", checked: false }).waitFor();
  await goTo(bob, "People");
  const setting = bob.page.getByLabel("While my location is hidden, let through from Alice:");
  await expect(setting.inputValue()).resolves.toBe("urgent");

  // Default "only calls for help": "On my way home" is dropped, the SOS after it arrives.
  await goTo(alice, "Status");
  await alice.page.getByRole("button", { name: "On my way home" }).click();
  await alice.page.getByText("On my way home: Sent to Bob.").waitFor({ timeout: 10_000 });
  await alice.page.getByRole("button", { name: "SOS", exact: true }).click();
  await alice.page.getByRole("dialog", { name: "Send SOS?" }).getByRole("button", { name: "Send SOS" }).click();
  await acknowledge(bob, "SOS from Alice");
  await goTo(bob, "Messages");
  await bob.page.getByRole("listitem").filter({ hasText: "Status: SOS" }).first().waitFor();
  await expect(bob.page.getByRole("listitem").filter({ hasText: "Status: On my way home" }).count()).resolves.toBe(0);

  // "Nothing": even an SOS stays out while he hides.
  await goTo(bob, "People");
  await setting.selectOption("none");
  await expect(setting.inputValue()).resolves.toBe("none");
  await alice.page.getByRole("button", { name: "SOS", exact: true }).click();
  await alice.page.getByRole("dialog", { name: "Send SOS?" }).getByRole("button", { name: "Send SOS" }).click();
  await alice.page.getByText("SOS: Sent to Bob.").waitFor({ timeout: 10_000 });
  await bob.page.waitForTimeout(2500);
  await expect(bob.page.getByRole("alertdialog").count()).resolves.toBe(0);

  // "Everything": everyday statuses get through again; the earlier SOS stays dropped.
  await setting.selectOption("all");
  await expect(setting.inputValue()).resolves.toBe("all");
  await alice.page.getByRole("button", { name: "I'm OK" }).click();
  await bob.page.getByRole("status").filter({ hasText: "Alice: I'm OK" }).waitFor({ timeout: 10_000 });
  await expect(bob.page.getByRole("alertdialog").count()).resolves.toBe(0);
  // The setting is kept with the device.
  await bob.page.reload();
  await goTo(bob, "People");
  await expect(bob.page.getByLabel("While my location is hidden, let through from Alice:").inputValue()).resolves.toBe(
    "all",
  );
}, 60_000);
