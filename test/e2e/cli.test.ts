import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDemo } from "@seeme/cli/demo";
import { openDevice } from "@seeme/cli/device";
import { waitFor } from "@seeme/testkit/health";
import { startStack, type Stack } from "../stack.js";
import { seeMe, startSeeMe } from "./cli-process.js";
import { pair } from "./helpers.js";

/**
 * The see-me CLI against the real stack, run as a person runs it: the `see-me`
 * executable in a child process, state in --home folders. One test per bug of
 * issue #12's CLI list.
 */
let stack: Stack;
const folders: string[] = [];

async function folder(name: string): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), `see-me-cli-${name}-`));
  folders.push(path);
  return path;
}

/** A home with an account, registered in process (the CLI's own init is tested below). */
async function device(name: string): Promise<string> {
  const home = await folder(name);
  await openDevice({ home, gateway: stack.gatewayUrl }).register();
  return home;
}

/** Two homes with accounts and an active connection: `a` calls it `labels.a`, `b` calls it `labels.b`. */
async function pairedHomes(labels: { a: string; b: string }): Promise<{ a: string; b: string }> {
  const homes = { a: await device(labels.b), b: await device(labels.a) };
  const a = openDevice({ home: homes.a, gateway: stack.gatewayUrl });
  const { a: connection } = await pair(a, openDevice({ home: homes.b, gateway: stack.gatewayUrl }), labels);
  // The initiator's side turns active with the server's 5/3 notice.
  expect(
    await waitFor(async () => (await a.sync(), (await a.connection(connection)).status === "active"), 10_000, 100),
  ).toBe(true);
  return homes;
}

const at = (home: string) => ["--home", home, "--gateway", stack.gatewayUrl];

beforeAll(async () => {
  stack = await startStack("e2e_cli");
}, 30_000);

afterAll(async () => {
  for (const path of folders) await rm(path, { recursive: true, force: true });
  await stack?.stop();
});

test("see-me demo narrates every step and completes", async () => {
  const lines: string[] = [];
  const code = await runDemo({ gateway: stack.gatewayUrl, print: (line) => lines.push(line) });
  const text = lines.join("\n");
  // The narration first: on a failure it shows the step that failed.
  expect(text.slice(-300)).toMatch(/demo complete$/);
  expect(code).toBe(0);
  for (const step of [
    "1. Two devices create accounts",
    "4. Alice scans Bob's code",
    "9. Alice turns her location sharing off",
    "11. Bob breaks the connection",
  ])
    expect(text).toContain(step);
  expect(text).toContain('Bob received  Alice: new #2: "Hi Bob!');
  expect(text).toContain("withheld from Alice");
  expect(text).toContain("server: connection broken by the peer");
  expect(text).toMatch(/demo complete$/);
});

test("init, qr, accept (three times), send, sync, list and break, each a see-me process with state in --home", async () => {
  const [alice, bob] = [await folder("alice"), await folder("bob")];
  const init = await seeMe(["init", ...at(alice)]);
  expect(init).toMatchObject({ code: 0, stderr: "" });
  expect(init.stdout).toMatch(/^account [0-9a-f-]{36} created/);
  expect((await seeMe(["init", ...at(bob)])).code).toBe(0);
  const last = (text: string) => text.trimEnd().split("\n").at(-1)!;
  const aliceCode = last((await seeMe(["qr", "--name", "bob", ...at(alice)])).stdout);
  expect(aliceCode).toMatch(/^SEEME1:C:/);
  const bobCode = last((await seeMe(["accept", aliceCode, "--name", "alice", ...at(bob)])).stdout);
  expect(bobCode).toMatch(/^SEEME1:C:/);
  const invite = last((await seeMe(["accept", bobCode, ...at(alice)])).stdout);
  expect(invite).toMatch(/^SEEME1:I:/);
  expect((await seeMe(["accept", invite, ...at(bob)])).stdout).toMatch(/^connected: .* alice .*active/);

  expect((await seeMe(["send", "status", "please-call-me", "--to", "alice", ...at(bob)])).stdout).toMatch(
    /^sent to alice .*: packet 1\n$/,
  );
  expect((await seeMe(["sync", ...at(alice)])).stdout).toContain('status "please-call-me"');
  expect((await seeMe(["list", ...at(alice)])).stdout).toMatch(/bob\s+active\s+initiator\s+peer sharing on/);
  expect((await seeMe(["break", "bob", ...at(alice)])).stdout).toMatch(/^connection bob \(.*\) broken\n$/);
  expect((await seeMe(["list", ...at(alice)])).stdout).toMatch(/bob\s+broken/);
}, 120_000);

test("--home=DIR before the command works like --home DIR (it printed the help and exited 0)", async () => {
  const { a } = await pairedHomes({ a: "bob", b: "alice" });
  for (const args of [
    [`--home=${a}`, `--gateway=${stack.gatewayUrl}`, "list"],
    ["--home", a, "--gateway", stack.gatewayUrl, "list"],
  ]) {
    const result = await seeMe(args);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toMatch(/^\S+…\s+bob\s+active/);
  }
});

test("init --home without a folder is refused and writes nothing (it wrote the secret key into the current folder)", async () => {
  const cwd = await folder("cwd");
  const result = await seeMe(["init", "--gateway", stack.gatewayUrl, "--home"], { cwd });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain("--home needs a value");
  expect(result.stderr).toContain("usage: see-me init");
  expect(await readdir(cwd)).toEqual([]);
});

test("an unknown option is an error naming it, with the command's usage (it was ignored)", async () => {
  const home = await device("unknown-flag");
  const result = await seeMe(["list", "--frobnicate", ...at(home)]);
  expect(result).toMatchObject({ code: 2, stdout: "" });
  expect(result.stderr).toContain("unknown option --frobnicate");
  expect(result.stderr).toContain("usage: see-me list");
  const value = await seeMe(["send", "status", "sos", "--colour", "red", ...at(home)]);
  expect(value.code).toBe(2);
  expect(value.stderr).toContain("unknown option --colour");
  expect(value.stderr).toContain("usage: see-me send status <name>");
});

test("--gateway accepts host:port (it failed with 'Failed to parse URL')", async () => {
  const home = await folder("host-port");
  const hostPort = stack.gatewayUrl.replace(/^http:\/\//, "");
  const init = await seeMe(["init", "--home", home, "--gateway", hostPort]);
  expect(init).toMatchObject({ code: 0, stderr: "" });
  expect(init.stdout).toMatch(/^account [0-9a-f-]{36} created/);
  const list = await seeMe(["list", "--home", home], { env: { SEEME_GATEWAY: hostPort } });
  expect(list).toMatchObject({ code: 0, stdout: "no connections yet: make one with `see-me qr`\n" });
  const bad = await seeMe(["list", "--home", home, "--gateway", "ftp://127.0.0.1:1"]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--gateway "ftp://127.0.0.1:1" is not a gateway address');
});

test("an unknown --movement lists the valid ones, and negative coordinates are coordinates (only the usage line was shown)", async () => {
  const { a } = await pairedHomes({ a: "bob", b: "alice" });
  const result = await seeMe(["send", "location", "-33.8568", "151.2153", "--movement", "running", ...at(a)]);
  expect(result).toMatchObject({ code: 2, stdout: "" });
  expect(result.stderr).toContain(
    'unknown --movement "running"; valid movements: stationary, moving-mode-unknown, walking, cycling-or-skating, driving-bus-or-light-rail, on-a-train',
  );
  const status = await seeMe(["send", "status", "help-me", ...at(a)]);
  expect(status.code).toBe(2);
  expect(status.stderr).toContain('unknown status "help-me"; valid statuses: location-sharing-off,');
  expect(status.stderr).toContain("sos, im-ok");
  const sent = await seeMe([
    "send",
    "location",
    "-33.8568",
    "151.2153",
    "--movement",
    "walking",
    "--speed",
    "4.5",
    ...at(a),
  ]);
  expect(sent).toMatchObject({ code: 0, stderr: "" });
  expect(sent.stdout).toMatch(/^sent to bob .*: packet 1\n$/);
});

test("--to a name that does not exist lists the connections that do (it said only 'no such connection')", async () => {
  const { a } = await pairedHomes({ a: "bob", b: "alice" });
  const result = await seeMe(["send", "status", "sos", "--to", "Bob", ...at(a)]);
  expect(result).toMatchObject({ code: 1, stdout: "" });
  expect(result.stderr).toBe('see-me send: no connection named "Bob"; connections on this device: bob (active)\n');
});

test("a command before init says to run `see-me init` (it said 'register first')", async () => {
  const home = await folder("no-account");
  const result = await seeMe(["list", ...at(home)]);
  expect(result.code).toBe(1);
  expect(result.stderr).toContain("this device has no account yet");
  expect(result.stderr).toContain("run `see-me init` first");
  expect(result.stderr).not.toContain("register");
});

test("send after break is an error naming the connection (it printed nothing and exited 0)", async () => {
  const { a } = await pairedHomes({ a: "erin", b: "dave" });
  expect((await seeMe(["break", "erin", ...at(a)])).code).toBe(0);
  const all = await seeMe(["send", "status", "sos", ...at(a)]);
  expect(all).toMatchObject({ code: 1, stdout: "" });
  expect(all.stderr).toBe("see-me send: no active connection to send to; connections on this device: erin (broken)\n");
  const named = await seeMe(["send", "status", "sos", "--to", "erin", ...at(a)]);
  expect(named).toMatchObject({ code: 1, stdout: "" });
  expect(named.stderr).toBe(
    'see-me send: no active connection named "erin" (it is broken); connections on this device: erin (broken)\n',
  );
});

test("the first Ctrl-C stops watch within 2 s, exit status 130", async () => {
  const { a } = await pairedHomes({ a: "bob", b: "alice" });
  const watch = startSeeMe(["watch", ...at(a)]);
  await watch.waitFor(/live: connected/);
  const sent = Date.now();
  watch.child.kill("SIGINT");
  const result = await watch.exited;
  expect(Date.now() - sent).toBeLessThan(2000);
  expect(result).toMatchObject({ code: 130, signal: null });
});

test("watch says why it reconnects, and Ctrl-C stops it while the gateway is down", async () => {
  const { a } = await pairedHomes({ a: "bob", b: "alice" });
  const watch = startSeeMe(["watch", ...at(a)]);
  try {
    await watch.waitFor(/live: connected/);
    await stack.stopService("gateway");
    const url = stack.gatewayUrl.replace(/\./g, "\\.");
    await watch.waitFor(new RegExp(`live: reconnecting \\(gateway unreachable at ${url} \\(connection refused\\)\\)…`));
    const sent = Date.now();
    watch.child.kill("SIGINT");
    expect(await watch.exited).toMatchObject({ code: 130 });
    expect(Date.now() - sent).toBeLessThan(2000);
  } finally {
    watch.child.kill("SIGKILL");
    await stack.startService("gateway");
  }
});

test("watch rings the bell and highlights an SOS, and prints the time and age of every location", async () => {
  const { a, b } = await pairedHomes({ a: "bob", b: "alice" });
  const watch = startSeeMe(["watch", ...at(a)]);
  try {
    await watch.waitFor(/live: connected/);
    expect((await seeMe(["send", "status", "sos", ...at(b)])).code).toBe(0);
    await watch.waitFor(/\u0007!!! SOS from bob !!! bob: status "sos"/);
    expect((await seeMe(["send", "location", "-33.8568", "151.2153", "--movement", "walking", ...at(b)])).code).toBe(0);
    await watch.waitFor(/bob: 📍 -33\.856800, 151\.215300 walking 0 km\/h at \d\d:\d\d:\d\d \(\d+ s ago\)\n/);
    expect((await seeMe(["send", "status", "im-ok", ...at(b)])).code).toBe(0);
    await watch.waitFor(/bob: status "im-ok"/);
    // Only the alarm rang the bell.
    expect(watch.output().stdout.split("\u0007")).toHaveLength(2);
  } finally {
    watch.child.kill("SIGINT");
    await watch.exited;
  }
}, 120_000);

test("see-me --help loads none of the SDK, Connect or crypto modules (startup time)", async () => {
  const dir = await folder("imports");
  const log = join(dir, "resolved.txt");
  const hook = join(dir, "log-resolve.mjs");
  const { writeFile, readFile } = await import("node:fs/promises");
  // A module resolve hook (node:module register) that appends every resolved URL to a file.
  await writeFile(
    join(dir, "hooks.mjs"),
    `import { appendFileSync } from "node:fs";\nexport async function resolve(specifier, context, next) {\n  const result = await next(specifier, context);\n  appendFileSync(${JSON.stringify(log)}, result.url + "\\n");\n  return result;\n}\n`,
  );
  await writeFile(
    hook,
    `import { register } from "node:module";\nregister(${JSON.stringify(`file://${join(dir, "hooks.mjs")}`)});\n`,
  );
  const result = await seeMe(["--help"], { nodeArgs: ["--import", hook] });
  expect(result.code).toBe(0);
  expect(result.stdout).toContain("usage: see-me <command>");
  const resolved = await readFile(log, "utf8");
  // src/ while the bin runs the TypeScript through tsx, dist/ once it runs compiled JavaScript.
  expect(resolved).toMatch(/\/packages\/cli\/(src|dist)\/main\./);
  expect(resolved).not.toMatch(
    /@seeme\/client|packages\/client|@connectrpc|@noble|@bufbuild|packages\/cli\/(src|dist)\/(commands|run|device|demo)\./,
  );
});
