import { SerialQueue, emptyState, type DeviceState, type DeviceStorage } from "@seeme/client";

/*
 * The SDK's DeviceStorage over IndexedDB: the whole device document (account
 * key, connection keys, outbox, inbox) is one record, changed in one readwrite
 * transaction, so a change is kept whole or not at all. Keys never touch
 * localStorage. A second small store holds what the app itself keeps (the
 * texts I sent, preferences).
 */

const DEVICE = "device";
const APP = "app";
const STATE_KEY = "state";
/** AppStore key: the inbox seq up to which the person has seen or been notified (app and service worker). */
export const NOTIFIED_THROUGH = "notifiedThrough";

export function openDatabase(name = "see-me"): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(DEVICE);
      request.result.createObjectStore(APP);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB could not be opened"));
    request.onblocked = () => reject(new Error("IndexedDB is blocked by another tab of see-me"));
  });
}

export class IndexedDbStorage implements DeviceStorage {
  private readonly queue = new SerialQueue();

  constructor(private readonly db: IDBDatabase) {}

  read(): Promise<DeviceState> {
    return this.queue.run(
      () =>
        new Promise((resolve, reject) => {
          const request = this.db.transaction(DEVICE, "readonly").objectStore(DEVICE).get(STATE_KEY);
          request.onsuccess = () => resolve((request.result as DeviceState | undefined) ?? emptyState());
          request.onerror = () => reject(request.error);
        }),
    );
  }

  update<T>(change: (state: DeviceState) => T): Promise<T> {
    return this.queue.run(
      () =>
        new Promise<T>((resolve, reject) => {
          const transaction = this.db.transaction(DEVICE, "readwrite");
          const store = transaction.objectStore(DEVICE);
          let result: T;
          let failure: unknown;
          const get = store.get(STATE_KEY);
          get.onsuccess = () => {
            // The change runs inside the transaction: get, change and put commit together.
            const state = structuredClone((get.result as DeviceState | undefined) ?? emptyState());
            try {
              result = change(state);
            } catch (error) {
              failure = error;
              transaction.abort();
              return;
            }
            store.put(state, STATE_KEY);
          };
          transaction.oncomplete = () => resolve(result);
          transaction.onabort = () => reject(failure ?? transaction.error ?? new Error("storage update aborted"));
        }),
    );
  }
}

/** A small key-value store beside the device document, for what the app keeps itself. */
export class AppStore {
  constructor(private readonly db: IDBDatabase) {}

  get<T>(key: string): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const request = this.db.transaction(APP, "readonly").objectStore(APP).get(key);
      request.onsuccess = () => resolve(request.result as T | undefined);
      request.onerror = () => reject(request.error);
    });
  }

  set(key: string, value: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      const transaction = this.db.transaction(APP, "readwrite");
      transaction.objectStore(APP).put(value, key);
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
    });
  }
}
