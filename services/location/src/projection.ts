import type { LocationContext } from "./context.js";
import { saveRoutes } from "./db/routes.js";

const PAGE_SIZE = 500;
const RETRY_MS = 5000;
const STATE_ID = 1;

/**
 * Rebuilds the route projection from the connection service when it was never
 * built or was lost with the database. Events keep it current afterwards; until
 * it is complete, the per-account fallback in access.ts answers. Retries until
 * the connection service answers.
 */
export function startProjectionRebuild(ctx: LocationContext): { done: Promise<void>; stop(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wakeUp: (() => void) | undefined;

  async function rebuild(): Promise<void> {
    let pageToken = "";
    let count = 0;
    do {
      const page = await ctx.connections.listRoutes({ pageSize: PAGE_SIZE, pageToken });
      await ctx.db.$transaction((tx) => saveRoutes(tx, page.routes));
      count += page.routes.length;
      pageToken = page.nextPageToken;
    } while (pageToken !== "" && !stopped);
    if (stopped) return;
    await ctx.db.projectionState.upsert({
      where: { id: STATE_ID },
      create: { id: STATE_ID, rebuiltAt: ctx.now() },
      update: { rebuiltAt: ctx.now() },
    });
    ctx.log.info({ connections: count }, "route projection rebuilt");
  }

  const done = (async () => {
    if (await ctx.db.projectionState.findUnique({ where: { id: STATE_ID } })) return;
    while (!stopped) {
      try {
        await rebuild();
        return;
      } catch (err) {
        ctx.log.warn(
          { err: err instanceof Error ? err.message : String(err), retryInMs: RETRY_MS },
          "route projection rebuild failed",
        );
        await new Promise<void>((resolve) => {
          wakeUp = resolve;
          timer = setTimeout(resolve, RETRY_MS);
        });
      }
    }
  })();

  return {
    done,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wakeUp?.();
      await done.catch(() => undefined);
    },
  };
}
