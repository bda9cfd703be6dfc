import { mkdir, open, readFile, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ClientError } from "./errors.js";
import { STATE_VERSION, SerialQueue, emptyState, type DeviceState, type DeviceStorage } from "./storage.js";

/**
 * Keeps the device state in one JSON file (Node only: browsers never import this
 * module). Each update writes a temporary file, flushes it to disk and renames it
 * over the old one, so a crash leaves either the old or the new state, never a
 * torn one. The file holds secret keys: it is created readable by its owner only.
 */
export class FileStorage implements DeviceStorage {
  private state: DeviceState | undefined;
  private readonly queue = new SerialQueue();

  constructor(readonly path: string) {}

  /** `<home>/state.json`, e.g. `~/.see-me/state.json`. */
  static inHome(home: string): FileStorage {
    return new FileStorage(join(home, "state.json"));
  }

  read(): Promise<DeviceState> {
    return this.queue.run(async () => structuredClone(await this.load()));
  }

  update<T>(change: (state: DeviceState) => T): Promise<T> {
    return this.queue.run(async () => {
      const next = structuredClone(await this.load());
      const result = change(next);
      await this.write(next);
      this.state = next;
      return result;
    });
  }

  private async load(): Promise<DeviceState> {
    if (this.state) return this.state;
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      this.state = emptyState();
      return this.state;
    }
    const parsed = JSON.parse(text) as DeviceState;
    if (parsed.version !== STATE_VERSION) {
      throw new ClientError("invalid-payload", `state file version ${String(parsed.version)} is not supported (this SDK reads ${STATE_VERSION})`);
    }
    this.state = parsed;
    return parsed;
  }

  private async write(state: DeviceState): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    const file = await open(temporary, "w", 0o600);
    try {
      await file.writeFile(JSON.stringify(state, null, 1));
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.path);
  }
}
