/** Polls until `predicate` holds or `timeoutMs` passes; returns whether it held. */
export async function waitFor(
  predicate: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await Promise.resolve()
        .then(predicate)
        .catch(() => false)
    )
      return true;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return false;
}

/** Like waitFor, but throws when the condition does not hold in time (for tests that just need it to). */
export async function waitUntil(predicate: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  if (!(await waitFor(predicate, timeoutMs, 20))) throw new Error(`condition not met within ${timeoutMs} ms`);
}
