/**
 * `fetch` whose response body ends when the request's signal aborts. Node's
 * fetch (undici) wires the abort through a weak reference to the Request, so
 * once a GC has collected it, aborting a streaming call does nothing: a live
 * Subscribe could never be stopped and its server-side stream stayed open.
 * Reading the body through our own stream, cancelled by the signal, makes
 * abort work on every runtime (in browsers it changes nothing).
 */
export function abortableFetch(base?: typeof globalThis.fetch): typeof globalThis.fetch {
  return async (input, init) => {
    const response = await (base ?? globalThis.fetch)(input, init);
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    if (!signal || !response.body) return response;
    const reader = response.body.getReader();
    let onAbort = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        onAbort = () => {
          // Cancelling the reader closes the HTTP stream, so the server sees the client leave.
          reader.cancel(signal.reason).catch(() => undefined);
          try {
            controller.error(signal.reason);
          } catch {
            // already closed
          }
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      },
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (!done) return controller.enqueue(value);
          signal.removeEventListener("abort", onAbort);
          controller.close();
        } catch (error) {
          signal.removeEventListener("abort", onAbort);
          try {
            controller.error(error);
          } catch {
            // already errored by the abort
          }
        }
      },
      cancel(reason) {
        signal.removeEventListener("abort", onAbort);
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
