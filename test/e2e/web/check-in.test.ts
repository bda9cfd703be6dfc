import { goTo, openPhone, pairedPhones, type Phone, startWebStack, type WebStack } from "./harness.js";

/**
 * Check-in: "if I'm not back by HH:MM, tell Bob where I was". Extended and
 * cancelled, Bob never hears of it; left to run out, the relay releases it (by
 * its own clock, on a whole minute: the test waits up to about a minute) and Bob
 * reads Alice's message.
 */
let web: WebStack;
let alice: Phone;
let bob: Phone;

beforeAll(async () => {
  web = await startWebStack("e2e_web_check_in");
  [alice, bob] = await pairedPhones(
    openPhone(web.url, "alice-check-in", { latitude: 59.3293, longitude: 18.0686 }),
    openPhone(web.url, "bob-check-in"),
  );
  await Promise.all([alice, bob].map((phone) => phone.page.getByRole("button", { name: "Done" }).click()));
}, 90_000);

afterAll(async () => {
  await alice?.close();
  await bob?.close();
  await web?.stop();
});

const section = (phone: Phone) => phone.page.getByRole("region", { name: "Check-in" });

test("a check-in is started, extended by 30 minutes and cancelled: Bob is never told", async () => {
  await goTo(alice, "Status");
  const form = section(alice);
  await form.getByLabel("If I'm not back by").fill("23:30");
  await expect(form.getByLabel("tell").inputValue()).resolves.toMatch(/./);
  await form.getByLabel("Message").fill("Out running by the lake.");
  await form.getByRole("button", { name: "Start check-in" }).click();
  await form
    .getByText("If you're not back by 23:30, Bob is told “Out running by the lake.”")
    .waitFor({ timeout: 10_000 });

  await form.getByRole("button", { name: "30 min more" }).click();
  await form.getByText("If you're not back by 00:00, Bob is told", { exact: false }).waitFor({ timeout: 10_000 });
  // Kept with the device: still there after a reload.
  await alice.page.reload();
  await goTo(alice, "Status");
  await form.getByText("If you're not back by 00:00", { exact: false }).waitFor();

  await form.getByRole("button", { name: "I'm back" }).click();
  await form.getByRole("button", { name: "Start check-in" }).waitFor({ timeout: 10_000 });
  await goTo(bob, "Messages");
  await expect(bob.page.getByText("Out running by the lake.").count()).resolves.toBe(0);
}, 60_000);

test("left to run out, the check-in reaches Bob with Alice's message", async () => {
  // The form takes whole minutes, and the relay releases by its own clock: Alice's phone clock is set
  // 12 s before the next whole minute at least 20 s away, so the test waits well under a minute and a half.
  const release = Math.ceil((Date.now() + 20_000) / 60_000) * 60_000;
  await alice.page.clock.install({ time: release - 12_000 });
  await alice.page.reload();
  await goTo(alice, "Status");
  const hhmm = await alice.page.evaluate((at) => {
    const d = new Date(at);
    return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  }, release);
  const form = section(alice);
  await form.getByLabel("If I'm not back by").fill(hhmm);
  await form.getByLabel("Message").fill("Gone climbing, back by six.");
  await form.getByRole("button", { name: "Start check-in" }).click();
  await form
    .getByText(`If you're not back by ${hhmm}, Bob is told “Gone climbing, back by six.”`)
    .waitFor({ timeout: 10_000 });
  await expect(bob.page.getByText("Gone climbing, back by six.").count()).resolves.toBe(0);

  // The relay releases it at that minute (by its own clock); Bob's app shows it on its next sync.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, release - Date.now() + 2000)));
  await bob.page.reload();
  await goTo(bob, "Messages");
  await bob.page.getByText("Gone climbing, back by six.").waitFor({ timeout: 15_000 });
}, 150_000);
