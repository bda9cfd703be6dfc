import type { ConnectError } from "@connectrpc/connect";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Movement, SimpleStatus, renderQrText, type InboxMessage, type SeeMeClient } from "@seeme/client";
import { openDevice } from "./device.js";
import { describeMessage, short } from "./format.js";

const TEXT =
  "Hi Bob! This message is longer than one packet, so the SDK splits it into three parts of at most 110 bytes each, " +
  "seals every part separately, and your device joins them again once all three have arrived. The relay only ever " +
  "sees three opaque 305-byte blobs. See you at home tonight, with love, Alice.";

/** Resolves with the first message `device` persists that matches, syncing now and then in case the stream lags. */
function nextMessage(
  device: SeeMeClient,
  match: (m: InboxMessage) => boolean,
  timeoutMs = 10_000,
): Promise<InboxMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (stop(), reject(new Error("timed out waiting for a message"))), timeoutMs);
    const poll = setInterval(() => void device.sync().catch(() => undefined), 1000);
    const off = device.events.on("message", (message) => {
      if (match(message)) stop(), resolve(message);
    });
    function stop() {
      clearTimeout(timer);
      clearInterval(poll);
      off();
    }
  });
}

/**
 * `see-me demo`: two throwaway devices (Alice and Bob, state in temporary
 * folders) against the running stack, every step narrated.
 */
export async function runDemo(options: { gateway: string; print: (line: string) => void }): Promise<number> {
  const { print } = options;
  const step = (n: number, text: string) => print(`\n\x1b[1m${n}. ${text}\x1b[0m`);
  const homes = [await mkdtemp(join(tmpdir(), "see-me-alice-")), await mkdtemp(join(tmpdir(), "see-me-bob-"))];
  const alice = openDevice({ home: homes[0], gateway: options.gateway });
  const bob = openDevice({ home: homes[1], gateway: options.gateway });
  const lives: Array<{ stop(): Promise<void> }> = [];
  try {
    print(`see-me demo against ${options.gateway}`);
    step(1, "Two devices create accounts (an Ed25519 key each; challenge-response sign-in)");
    print(`Alice: account ${await alice.register()}`);
    print(`Bob:   account ${await bob.register()}`);

    step(2, "Alice shows her connection code (her connection keys + the pairID Bob will send to)");
    const offer = await alice.createOffer("Bob");
    print(renderQrText(offer.qr));
    print(offer.qr);

    step(3, "Bob scans it and shows his own code");
    const answer = await bob.answerOffer(offer.qr, "Alice");
    print(renderQrText(answer.qr));
    print(answer.qr);

    step(
      4,
      "Alice scans Bob's code: she signs {her pairID, his pairID} with her account key; the server signs the invite",
    );
    const invite = await alice.initiate(answer.qr, offer.connection);
    print(renderQrText(invite.qr));
    print(`${invite.qr}\n(invite valid until ${invite.expireTime?.toISOString()})`);

    step(5, "Bob scans the invite and confirms; Alice learns it from the server's 5/3 notice");
    const made = await bob.confirm(invite.qr);
    print(`Bob:   connection ${short(made.connection)} → Alice at ${short(made.peerPairId)} is ${made.status}`);
    for (const [name, device] of [
      ["Alice", alice],
      ["Bob", bob],
    ] as const) {
      device.events.on("message", (m) =>
        print(`   ${name} received  ${describeMessage(m, (c) => (c === offer.connection ? "Bob" : "Alice"))}`),
      );
      device.events.on("dropped", () => print(`   ${name} dropped a location: her/his own sharing is off`));
      lives.push(await device.startLive());
    }
    await nextMessage(alice, (m) => m.kind === "server" && m.subType === 3);
    print(`Alice: connection ${short(offer.connection)} is ${(await alice.connection(offer.connection)).status}`);

    step(6, "Alice sends her location (46-character payload, sealed into a 208-byte blob)");
    let arrived = nextMessage(bob, (m) => m.kind === "location");
    await alice.sendLocation({
      movement: Movement.Walking,
      latitude: -33.8676039,
      longitude: 151.2085945,
      speedKmh: 4.8,
    });
    await arrived;

    step(7, "Bob sends SOS");
    arrived = nextMessage(alice, (m) => m.kind === "status" && m.status === SimpleStatus.Sos);
    await bob.sendStatus(SimpleStatus.Sos);
    await arrived;

    step(8, `Alice sends a ${TEXT.length}-character text`);
    arrived = nextMessage(bob, (m) => m.kind === "text");
    const text = await alice.sendText(TEXT);
    print(`   sent as ${text.sent[0].packetIds.length} parts: packets ${text.sent[0].packetIds.join(", ")}`);
    await arrived;

    step(9, "Alice turns her location sharing off: Bob is told, and stops sending his location to her");
    arrived = nextMessage(bob, (m) => m.kind === "status" && m.status === SimpleStatus.LocationSharingOff);
    await alice.setSharing(false);
    await arrived;
    const withheld = await bob.sendLocation({
      movement: Movement.Stationary,
      latitude: -33.87,
      longitude: 151.21,
      speedKmh: 0,
    });
    print(
      `   Bob's location: sent to ${withheld.sent.length}, withheld from ${withheld.withheld.map((w) => w.label).join(", ")} (her sharing is off)`,
    );
    await alice
      .sendLocation({ movement: Movement.Stationary, latitude: 0, longitude: 0, speedKmh: 0 })
      .catch((error: ConnectError) => print(`   Alice's location: refused — ${error.rawMessage}`));
    // While her location is hidden, what she must never miss still reaches her: "I'm lost" and SOS.
    arrived = nextMessage(alice, (m) => m.kind === "status" && m.status === SimpleStatus.ImLost);
    await bob.sendStatus(SimpleStatus.ImLost);
    await arrived;
    print("   Bob's \"I'm lost\" still reaches her: sharing off never hides an alarm");

    step(10, "Alice turns sharing back on; Bob's location reaches her again");
    arrived = nextMessage(bob, (m) => m.kind === "status" && m.status === SimpleStatus.LocationSharingOn);
    await alice.setSharing(true);
    await arrived;
    arrived = nextMessage(alice, (m) => m.kind === "location");
    await bob.sendLocation({ movement: Movement.OnATrain, latitude: -33.8832, longitude: 151.207, speedKmh: 62.5 });
    await arrived;

    step(11, "Bob breaks the connection; Alice's device is told (5/5) and ends it too");
    const broken = new Promise<void>((resolve) =>
      alice.events.on("connection", (e) => e.status === "broken" && resolve()),
    );
    await bob.breakConnection(answer.connection);
    // However Alice's device learns it (the 5/5 notice, or a Sync the relay refused), the event says so.
    await broken;
    print(`Alice: connection ${short(offer.connection)} is ${(await alice.connection(offer.connection)).status}`);
    print(`Bob:   connection ${short(answer.connection)} is ${(await bob.connection(answer.connection)).status}`);

    step(12, "Clean up: both accounts are deleted");
    for (const live of lives.splice(0)) await live.stop();
    await alice.deleteAccount();
    await bob.deleteAccount();
    print("demo complete");
    return 0;
  } catch (error) {
    print(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    for (const live of lives) await live.stop();
    for (const home of homes) await rm(home, { recursive: true, force: true });
  }
}
