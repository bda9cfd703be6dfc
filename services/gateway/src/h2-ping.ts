import type http2 from "node:http2";

/**
 * Sends one HTTP/2 PING and destroys the session if it is not answered within
 * `timeoutMs` (or cannot be sent): the way both ends of the gateway notice a
 * peer that vanished without closing its connection.
 */
export function pingOrDestroy(session: http2.Http2Session, timeoutMs: number): void {
  const deadline = setTimeout(() => session.destroy(), timeoutMs);
  deadline.unref();
  try {
    const sent = session.ping((error) => {
      clearTimeout(deadline);
      if (error) session.destroy();
    });
    if (!sent) clearTimeout(deadline);
  } catch {
    clearTimeout(deadline);
    session.destroy();
  }
}
