/**
 * A set that remembers at most `capacity` keys, forgetting the oldest insert
 * first: for "recently seen" keys where forgetting one costs a repeat of cheap
 * work, never correctness. A Set iterates in insertion order, so the oldest key
 * is its first.
 */
export class BoundedSet<T> {
  private readonly keys = new Set<T>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be a positive integer");
  }

  get size(): number {
    return this.keys.size;
  }

  has(key: T): boolean {
    return this.keys.has(key);
  }

  /** Adds `key`; true the first time it is offered (while remembered), false for a repeat. */
  add(key: T): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.capacity) this.keys.delete(this.keys.values().next().value as T);
    return true;
  }

  delete(key: T): boolean {
    return this.keys.delete(key);
  }
}
