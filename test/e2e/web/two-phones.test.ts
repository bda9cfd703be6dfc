import { AxeBuilder } from "@axe-core/playwright";
import { join } from "node:path";
import type { Page } from "playwright-core";
import {
  SCREENSHOTS,
  blankCamera,
  createDevice,
  goTo,
  openPhone,
  showToCamera,
  startWebStack,
  type Phone,
  type WebStack,
} from "./harness.js";

/**
 * Two phones (one Chromium each, 390×844) against the real stack, served by
 * the gateway: they create devices, pair by scanning each other's QR with the
 * camera, see each other move, send an SOS, hide, break — and pair again by
 * pasting codes, then message. Assertions are on what a person sees.
 * SCREENSHOTS=1 rewrites docs/screenshots/.
 */
let web: WebStack;
let alice: Phone;
let bob: Phone;
const violations: string[] = [];
const START = { latitude: 48.8584, longitude: 2.2945 };
const MOVED = { latitude: 48.8589, longitude: 2.2975 };
const HIDDEN_MOVE = { latitude: 48.8601, longitude: 2.3011 };

async function scanAccessibility(phone: Phone, screen: string): Promise<void> {
  const result = await new AxeBuilder({ page: phone.page as never }).analyze();
  for (const violation of result.violations) {
    if (violation.impact === "serious" || violation.impact === "critical") {
      violations.push(
        `${screen}: ${violation.id} (${violation.impact}) ${violation.nodes.map((n) => n.target.join(" ")).join(", ")}`,
      );
    }
  }
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

function people(phone: Phone) {
  return phone.page.getByRole("region", { name: "People" });
}

beforeAll(async () => {
  web = await startWebStack("e2e_web_phones");
  [alice, bob] = await Promise.all([
    openPhone(web.url, "alice", START),
    openPhone(web.url, "bob", { latitude: 48.853, longitude: 2.3499 }, ["notifications"]),
  ]);
}, 60_000);

afterAll(async () => {
  await alice?.close();
  await bob?.close();
  await web?.stop();
});

test("first run: each phone creates its device and names itself", async () => {
  // Waited for: the app renders after its bundle loads, which a loaded machine can take seconds over.
  const welcome = alice.page.getByRole("heading", { name: "Welcome to see-me" });
  await welcome.waitFor({ timeout: 15_000 });
  await expect(welcome.isVisible()).resolves.toBe(true);
  await scanAccessibility(alice, "first run");
  await alice.page.getByLabel("Your name").fill("Alice");
  await screenshot(alice.page, "1-first-run");
  await Promise.all([createDevice(alice, "Alice"), createDevice(bob, "Bob")]);
  const map = alice.page.getByRole("heading", { name: "Map" });
  await map.waitFor({ timeout: 15_000 });
  await expect(map.isVisible()).resolves.toBe(true);
  await expect(alice.page.getByText("Nobody here yet.").isVisible()).resolves.toBe(true);
});

test("they pair in three steps by scanning each other's QR with the camera", async () => {
  // Step 1: Alice shows her code, Bob's camera sees it.
  await goTo(alice, "People");
  await alice.page.getByRole("button", { name: "Add someone" }).click();
  await alice.page.getByLabel("Their name (only you see it)").fill("Bob");
  await alice.page.getByRole("button", { name: "Show my code" }).click();
  await alice.page.getByText("Step 1 of 3").waitFor();
  await alice.page.getByText("Let Bob scan this code with see-me").waitFor();
  await scanAccessibility(alice, "pairing (code)");
  await screenshot(alice.page, "2-pairing");
  await showToCamera(alice, bob);

  await goTo(bob, "People");
  await bob.page.getByRole("button", { name: "Add someone" }).click();
  await bob.page.getByLabel("Their name (only you see it)").fill("Alice");
  await bob.page.getByRole("button", { name: "Scan their code" }).click();
  await bob.page.getByText("Point the camera at the code on Alice's phone.").waitFor();
  await scanAccessibility(bob, "pairing (scan)");

  // Step 2: Bob's screen now shows his code; Alice scans it.
  await bob.page.getByText("Step 2 of 3").waitFor({ timeout: 10_000 });
  await bob.page.getByText("Let Alice scan this code").waitFor();
  await showToCamera(bob, alice);
  await alice.page.getByRole("button", { name: "Next: scan Bob's code" }).click();

  // Step 3: Alice shows the invite; Bob scans it and they are connected.
  await alice.page.getByText("Step 3 of 3").waitFor({ timeout: 10_000 });
  await alice.page.getByText("Last step: let Bob scan this code").waitFor();
  await showToCamera(alice, bob);
  await bob.page.getByRole("button", { name: "Next: scan Alice's last code" }).click();
  await bob.page.getByText("You and Alice are connected.").waitFor({ timeout: 10_000 });
  await alice.page.getByText("You and Bob are connected.").waitFor({ timeout: 10_000 });
  await alice.page.getByRole("button", { name: "Done" }).click();
  await bob.page.getByRole("button", { name: "Done" }).click();
  await expect(
    alice.page.getByRole("listitem").filter({ hasText: "Bob" }).getByText("Connected").isVisible(),
  ).resolves.toBe(true);
  await scanAccessibility(alice, "people");
  await screenshot(alice.page, "7-people");
}, 60_000);

test("Bob's map shows Alice and follows her within 3 s when she moves", async () => {
  await goTo(bob, "Map");
  await goTo(alice, "Map");
  const aliceOnBob = people(bob).getByRole("listitem").filter({ hasText: "Alice" });
  await aliceOnBob.getByText("48.85840, 2.29450").waitFor({ timeout: 10_000 });
  // Alice's phone sends its fix accuracy with the position: Bob reads it and his map draws the circle.
  await aliceOnBob.getByText("within 10 m", { exact: false }).waitFor();
  // Two circles: Bob's own fix and Alice's.
  await expect(bob.page.locator(".leaflet-overlay-pane path.accuracy").count()).resolves.toBe(2);
  const marker = bob.page.getByRole("img", { name: /^Alice, / });
  await marker.waitFor();
  const before = (await marker.boundingBox())!;
  await alice.page.getByRole("img", { name: /^Bob, / }).waitFor({ timeout: 10_000 });
  await scanAccessibility(bob, "map");
  await screenshot(bob.page, "3-map");

  const moved = Date.now();
  await alice.context.setGeolocation({ ...MOVED, accuracy: 10 });
  await aliceOnBob.getByText("48.85890, 2.29750").waitFor({ timeout: 3000 });
  expect(Date.now() - moved).toBeLessThan(3000);
  const after = (await marker.boundingBox())!;
  // 0.003° east and 0.0005° north: the marker moved right and a little up on Bob's screen.
  expect(after.x).toBeGreaterThan(before.x + 5);
  expect(after.y).toBeLessThan(before.y);
}, 30_000);

test("Alice's SOS takes Bob's whole screen until he acknowledges it", async () => {
  await goTo(alice, "Status");
  await scanAccessibility(alice, "status");
  await screenshot(alice.page, "6-status");
  await alice.page.getByRole("button", { name: "SOS", exact: true }).click();
  const dialog = alice.page.getByRole("dialog", { name: "Send SOS?" });
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Send SOS" }).click();
  await alice.page.getByText("SOS: Sent to Bob.").waitFor({ timeout: 10_000 });

  const alert = bob.page.getByRole("alertdialog", { name: "SOS from Alice" });
  await alert.waitFor({ timeout: 5000 });
  await expect(alert.getByText("Last location: 48.85890, 2.29750.").isVisible()).resolves.toBe(true);
  const box = (await alert.boundingBox())!;
  expect(box.width).toBe(390);
  expect(box.height).toBe(844);
  // A system notification too, for when the app is in the background.
  // Shown just after the alert (the worker's registration is looked up first): waited for, briefly.
  const notifications = () =>
    bob.page.evaluate(async () => {
      const registration = await navigator.serviceWorker.getRegistration();
      return (await registration?.getNotifications())?.map((n) => n.title) ?? [];
    });
  let shown = await notifications();
  for (let i = 0; i < 25 && !shown.length; i++) {
    await bob.page.waitForTimeout(200);
    shown = await notifications();
  }
  expect(shown).toEqual(["SOS from Alice"]);
  await scanAccessibility(bob, "SOS alert");
  await screenshot(bob.page, "4-sos-alert");
  await alert.getByRole("button", { name: "I've seen it" }).click();
  await alert.waitFor({ state: "hidden" });
}, 30_000);

test("Bob turns sharing off: Alice sees him hiding and her location stops reaching him", async () => {
  await goTo(alice, "Map");
  await bob.page.getByRole("switch", { name: "Share my location" }).click();
  await bob.page.getByText("You hide from everyone.").waitFor();
  await bob.page.getByRole("switch", { name: "Share my location", checked: false }).waitFor();
  await alice.page.getByText("Hiding from you: Bob.").waitFor({ timeout: 5000 });
  await people(alice).getByText("Bob is not sharing: you don't see each other.").waitFor();
  await expect(alice.page.getByRole("img", { name: /^Bob, / }).count()).resolves.toBe(0);

  await alice.context.setGeolocation({ ...HIDDEN_MOVE, accuracy: 10 });
  await alice.page.waitForTimeout(1500);
  await bob.page.getByRole("switch", { name: "Share my location" }).click();
  await bob.page.getByRole("switch", { name: "Share my location", checked: true }).waitFor();
  const aliceOnBob = people(bob).getByRole("listitem").filter({ hasText: "Alice" });
  await aliceOnBob.getByText("48.85890, 2.29750").waitFor();
  await bob.page.waitForTimeout(1000);
  await expect(aliceOnBob.getByText("48.86010").count()).resolves.toBe(0);
}, 30_000);

test("Alice ends the connection: both phones show it ended", async () => {
  await goTo(alice, "People");
  await alice.page.getByRole("button", { name: "End connection with Bob" }).click();
  await alice.page
    .getByRole("dialog", { name: "End the connection with Bob?" })
    .getByRole("button", { name: "End connection" })
    .click();
  await alice.page.getByRole("listitem").filter({ hasText: "Bob" }).getByText("Ended").waitFor();
  await goTo(bob, "People");
  await bob.page.getByRole("listitem").filter({ hasText: "Alice" }).getByText("Ended").waitFor({ timeout: 5000 });
  await goTo(bob, "Map");
  await bob.page.getByText("Nobody here yet.").waitFor();
}, 30_000);

test("they pair again by pasting codes, then message each other with delivery ticks", async () => {
  const paste = async (from: Phone, to: Phone) => {
    await from.page.getByText("Show the code as text").click();
    const code = await from.page.getByLabel("Code to paste on the other phone").inputValue();
    expect(code).toMatch(/^SEEME1:/);
    await to.page.getByLabel("Or paste their code").fill(code);
    await to.page.getByRole("button", { name: "Use this code" }).click();
  };
  // Both cameras look at nothing now: the codes travel as text.
  blankCamera(alice);
  blankCamera(bob);
  await goTo(alice, "People");
  await goTo(bob, "People");
  await alice.page.getByRole("button", { name: "Add someone" }).click();
  await alice.page.getByLabel("Their name (only you see it)").fill("Bobby");
  await alice.page.getByRole("button", { name: "Show my code" }).click();
  await bob.page.getByRole("button", { name: "Add someone" }).click();
  await bob.page.getByLabel("Their name (only you see it)").fill("Mum");
  await bob.page.getByRole("button", { name: "Scan their code" }).click();
  await paste(alice, bob);
  await bob.page.getByText("Step 2 of 3").waitFor();
  await alice.page.getByRole("button", { name: "Next: scan Bobby's code" }).click();
  await paste(bob, alice);
  await alice.page.getByText("Step 3 of 3").waitFor();
  await bob.page.getByRole("button", { name: "Next: scan Mum's last code" }).click();
  await paste(alice, bob);
  await bob.page.getByText("You and Mum are connected.").waitFor();
  await alice.page.getByText("You and Bobby are connected.").waitFor({ timeout: 10_000 });

  const long =
    "We are at the north exit of the station, next to the flower stall. Take the second escalator up and turn left; we wait by the clock.";
  await goTo(alice, "Messages");
  await alice.page.getByLabel("Conversation with").selectOption({ label: "Bobby" });
  await alice.page.getByLabel("Message to Bobby").fill(long);
  await alice.page.getByRole("button", { name: "Send", exact: true }).click();
  await goTo(bob, "Messages");
  const received = bob.page.getByRole("listitem").filter({ hasText: long });
  await received.waitFor({ timeout: 5000 });
  await received.getByRole("button", { name: /^Reply to/ }).click();
  await bob.page.getByLabel("Message to Mum").fill("On my way!");
  await bob.page.getByRole("button", { name: "Send", exact: true }).click();
  const reply = alice.page.getByRole("listitem").filter({ hasText: "On my way!" });
  await reply.waitFor({ timeout: 5000 });
  await expect(reply.getByText(/^↩ We are at the north exit/).isVisible()).resolves.toBe(true);
  await alice.page.getByRole("listitem").filter({ hasText: long }).getByText("✓ Delivered").waitFor({ timeout: 5000 });
  await scanAccessibility(alice, "messages");
  await screenshot(alice.page, "5-messages");

  // A pin: Alice shares her place; Bob sees it in the thread and on his map.
  await alice.page.getByRole("button", { name: "Share my place" }).click();
  const pin = bob.page.getByRole("listitem").filter({ hasText: "📍 I'm here (48.86010, 2.30110)" });
  await pin.waitFor({ timeout: 5000 });
  await pin.getByRole("button", { name: "Show on map" }).click();
  await bob.page.getByRole("img", { name: "Pin from Mum: I'm here" }).waitFor();
}, 60_000);

test("Bob renames the connection; the new name is used everywhere", async () => {
  await goTo(bob, "People");
  await bob.page.getByRole("button", { name: "Rename Mum" }).click();
  await bob.page.getByLabel("New name for Mum").fill("Alice");
  await bob.page.getByRole("button", { name: "Save" }).click();
  await bob.page.getByRole("listitem").filter({ hasText: "Alice" }).getByText("Connected").waitFor();
  await goTo(bob, "Map");
  await people(bob).getByRole("listitem").filter({ hasText: "Alice" }).waitFor();
}, 30_000);

test("no serious or critical accessibility violations on any screen, and nothing the CSP refused", () => {
  expect(violations).toEqual([]);
  expect([...alice.errors, ...bob.errors]).toEqual([]);
});
