import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commands } from "@seeme/cli/commands";
import { runDemo } from "@seeme/cli/demo";
import { openDevice } from "@seeme/cli/device";
import { startStack, type Stack } from "@seeme/testkit/stack";

/** The see-me CLI against the real stack: the narrated demo, and the commands a person types. */
let stack: Stack;
let homes: string[] = [];

beforeAll(async () => {
  stack = await startStack("e2e_cli");
  homes = [await mkdtemp(join(tmpdir(), "see-me-cli-a-")), await mkdtemp(join(tmpdir(), "see-me-cli-b-"))];
}, 30_000);

afterAll(async () => {
  for (const home of homes) await rm(home, { recursive: true, force: true });
  await stack?.stop();
});

/** Runs one command as `see-me <name> ...args --home <home>` would, returning what it printed. */
async function run(home: string, name: string, args: string[] = [], flags: Record<string, string> = {}): Promise<string[]> {
  const lines: string[] = [];
  await commands[name].run({ device: openDevice({ home, gateway: stack.gatewayUrl }), args, flags: new Map(Object.entries(flags)), print: (line) => lines.push(line), gateway: stack.gatewayUrl, home });
  return lines;
}

test("see-me demo narrates every step and completes", async () => {
  const lines: string[] = [];
  expect(await runDemo({ gateway: stack.gatewayUrl, print: (line) => lines.push(line) })).toBe(0);
  const text = lines.join("\n");
  for (const step of ["1. Two devices create accounts", "4. Alice scans Bob's code", "9. Alice turns her location sharing off", "11. Bob breaks the connection"]) expect(text).toContain(step);
  expect(text).toContain('Bob received  Alice: new #2: "Hi Bob!');
  expect(text).toContain("withheld from Alice");
  expect(text).toContain("server: connection broken by the peer");
  expect(text).toMatch(/demo complete$/);
});

test("init, qr, accept (three times), send, sync, list and break, with state in --home", async () => {
  const [alice, bob] = homes;
  expect((await run(alice, "init"))[0]).toMatch(/^account [0-9a-f-]{36} created$/);
  await run(bob, "init");
  const aliceCode = (await run(alice, "qr", [], { name: "bob" })).at(-1)!;
  expect(aliceCode).toMatch(/^SEEME1:C:/);
  const bobCode = (await run(bob, "accept", [aliceCode], { name: "alice" })).at(-1)!;
  expect(bobCode).toMatch(/^SEEME1:C:/);
  const invite = (await run(alice, "accept", [bobCode])).at(-1)!;
  expect(invite).toMatch(/^SEEME1:I:/);
  expect((await run(bob, "accept", [invite]))[0]).toMatch(/^connected: .* alice .*active/);

  expect(await run(bob, "send", ["status", "please-call-me"], { to: "alice" })).toEqual([expect.stringMatching(/^sent to alice .*: packet 1$/)]);
  expect((await run(alice, "sync")).join("\n")).toContain('status "please-call-me"');
  expect((await run(alice, "list"))[0]).toMatch(/bob\s+active\s+initiator\s+peer sharing on/);
  await run(alice, "break", ["bob"]);
  expect((await run(alice, "list"))[0]).toMatch(/bob\s+broken/);
});
