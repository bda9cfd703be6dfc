import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../src/file-storage.js";

/** FileStorage shared by several processes (`see-me watch` beside `see-me send`): no lost updates. */

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "see-me-file-storage-"));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

test("two FileStorage instances on one file interleaving updates lose nothing", async () => {
  const first = FileStorage.inHome(home);
  const second = FileStorage.inHome(home);
  // Each instance has its own queue, as two processes would: only the file lock keeps them apart.
  const bump = (storage: FileStorage, tag: string) =>
    storage.update((state) => {
      state.nextInboxSeq += 1;
      state.outbox.push({ pairId: tag, packetId: state.nextInboxSeq, blob: "", queuedAt: "" });
    });
  await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? bump(first, "a") : bump(second, "b"))));
  const state = await first.read();
  expect(state.nextInboxSeq).toBe(41);
  expect(state.outbox).toHaveLength(40);
  expect(new Set(state.outbox.map((p) => p.packetId)).size).toBe(40);
  expect((await second.read()).outbox).toHaveLength(40);
  await expect(stat(first.lockPath)).rejects.toMatchObject({ code: "ENOENT" });
});

test("a read-modify-write never works on a stale copy another instance has since replaced", async () => {
  const first = FileStorage.inHome(home);
  const second = FileStorage.inHome(home);
  await first.update((state) => {
    state.connections = [];
    state.nextInboxSeq = 5;
  });
  await second.update((state) => {
    state.nextInboxSeq += 1;
  });
  await first.update((state) => {
    state.nextInboxSeq += 1;
  });
  expect((await second.read()).nextInboxSeq).toBe(7);
});

test("a lock left by a process that no longer exists is taken over at once", async () => {
  const gone = spawnSync(process.execPath, ["-e", ""]).pid!;
  const storage = FileStorage.inHome(home);
  await writeFile(storage.lockPath, `${gone} deadbeef`);
  const started = Date.now();
  await storage.update((state) => {
    state.sharing = false;
  });
  expect(Date.now() - started).toBeLessThan(2000);
  expect(JSON.parse(await readFile(storage.path, "utf8")).sharing).toBe(false);
});

test("a lock held by a live process is waited for, and taken over once it is stale by age", async () => {
  const storage = FileStorage.inHome(home);
  await writeFile(storage.lockPath, `${process.pid} held`);
  let done = false;
  const pending = storage
    .update((state) => {
      state.sharing = false;
    })
    .then(() => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(done).toBe(false);
  const old = new Date(Date.now() - 60_000);
  await utimes(storage.lockPath, old, old);
  await pending;
  expect((await storage.read()).sharing).toBe(false);
});
