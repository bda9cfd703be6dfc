import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ClientError } from "./errors.js";
import { STATE_VERSION, SerialQueue, emptyState, type DeviceState, type DeviceStorage } from "./storage.js";

/** A lock older than this is taken to be left by a crashed or hung writer (an update takes milliseconds). */
const STALE_LOCK_MS = 10_000;
/** Waiting longer than this for the lock is a failure, not contention. */
const LOCK_TIMEOUT_MS = 3 * STALE_LOCK_MS;
const RETRY_MIN_MS = 2;
const RETRY_MAX_MS = 50;

/**
 * Keeps the device state in one JSON file (Node only: browsers never import this
 * module). Several processes may share the file (`see-me watch` in one terminal,
 * `see-me send` in another), so every update takes an exclusive lock file
 * (`<file>.lock`, created with O_EXCL), reads the file afresh under it, applies
 * the change and writes a temporary file, flushes it to disk and renames it over
 * the old one before releasing the lock: no process ever changes a stale copy,
 * and a crash leaves either the old or the new state, never a torn one. Reads
 * take no lock (the rename is atomic) but always read the file. The file holds
 * secret keys: it is created readable by its owner only.
 */
export class FileStorage implements DeviceStorage {
  private readonly queue = new SerialQueue();
  readonly lockPath: string;

  constructor(readonly path: string) {
    this.lockPath = `${path}.lock`;
  }

  /** `<home>/state.json`, e.g. `~/.see-me/state.json`. */
  static inHome(home: string): FileStorage {
    return new FileStorage(join(home, "state.json"));
  }

  read(): Promise<DeviceState> {
    return this.queue.run(() => this.load());
  }

  update<T>(change: (state: DeviceState) => T): Promise<T> {
    return this.queue.run(async () => {
      const release = await this.lock();
      try {
        const next = await this.load();
        const result = change(next);
        await this.write(next);
        return result;
      } finally {
        await release();
      }
    });
  }

  private async load(): Promise<DeviceState> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      return emptyState();
    }
    const parsed = JSON.parse(text) as DeviceState;
    if (parsed.version !== STATE_VERSION) {
      throw new ClientError(
        "invalid-payload",
        `state file version ${String(parsed.version)} is not supported (this SDK reads ${STATE_VERSION})`,
      );
    }
    return parsed;
  }

  private async write(state: DeviceState): Promise<void> {
    // Unique per writer, though the lock already keeps writers apart.
    const temporary = `${this.path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    const file = await open(temporary, "w", 0o600);
    try {
      await file.writeFile(JSON.stringify(state, null, 1));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.path);
  }

  /** Takes `<file>.lock` (pid and a random token inside); resolves to its release. */
  private async lock(): Promise<() => Promise<void>> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const token = `${process.pid} ${randomBytes(8).toString("hex")}`;
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        const file = await open(this.lockPath, "wx", 0o600);
        try {
          await file.writeFile(token);
        } finally {
          await file.close();
        }
        return () => this.unlock(token);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      if (await this.removeStaleLock()) continue;
      if (Date.now() > deadline)
        throw new ConnectError(`the state file is locked by another process (${this.lockPath})`, Code.DeadlineExceeded);
      const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, ceiling / 2 + Math.random() * (ceiling / 2)));
    }
  }

  private async unlock(token: string): Promise<void> {
    // Only our own lock: had it been taken over as stale, the new holder's must stay.
    if ((await this.readLock()) === token) await unlink(this.lockPath).catch(() => undefined);
  }

  /**
   * Removes the lock if its holder is gone: its process no longer exists (same
   * machine), or it is older than STALE_LOCK_MS. Re-checks the token just before
   * removing, so a lock taken meanwhile by someone else is left alone.
   */
  private async removeStaleLock(): Promise<boolean> {
    const token = await this.readLock();
    if (token === undefined) return true;
    let modified: number;
    try {
      modified = (await stat(this.lockPath)).mtimeMs;
    } catch {
      return true;
    }
    // An empty lock is one being written this instant: only age makes it stale.
    const pid = Number(token.split(" ")[0]);
    const stale = (token !== "" && !processAlive(pid)) || Date.now() - modified > STALE_LOCK_MS;
    if (!stale || (await this.readLock()) !== token) return false;
    await unlink(this.lockPath).catch(() => undefined);
    return true;
  }

  private async readLock(): Promise<string | undefined> {
    try {
      return await readFile(this.lockPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
