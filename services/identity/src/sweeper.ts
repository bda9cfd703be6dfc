import type { IdentityContext } from "./context.js";
import { PUBLISHED_OUTBOX_RETENTION_MS } from "./db/outbox.js";

/** Deletes expired challenges and sessions, and relayed outbox rows past their retention. */
export async function sweepExpired(ctx: IdentityContext): Promise<{ challenges: number; sessions: number; events: number }> {
  const now = ctx.now();
  const challenges = await ctx.db.challenge.deleteMany({ where: { expiresAt: { lte: now } } });
  const sessions = await ctx.db.session.deleteMany({ where: { expiresAt: { lte: now } } });
  const events = await ctx.db.outboxEvent.deleteMany({
    where: { publishedAt: { lte: new Date(now.getTime() - PUBLISHED_OUTBOX_RETENTION_MS) } },
  });
  return { challenges: challenges.count, sessions: sessions.count, events: events.count };
}

/** Runs sweepExpired every `intervalMs` (skipping a tick while one runs); stop() waits for it. */
export function startSweeper(ctx: IdentityContext, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const sweep = async () => {
    try {
      const swept = await sweepExpired(ctx);
      if (swept.challenges + swept.sessions + swept.events > 0) ctx.log.debug(swept, "expired rows deleted");
    } catch (err) {
      ctx.log.warn({ err }, "sweep failed, will retry");
    }
  };
  const timer = setInterval(() => {
    running ??= sweep().finally(() => {
      running = null;
    });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
