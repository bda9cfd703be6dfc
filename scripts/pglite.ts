/**
 * An embedded PostgreSQL for `npm start` without a database server: PGlite (PostgreSQL
 * in WebAssembly, persisted in `dataDir`) served on the wire protocol on 127.0.0.1, so
 * services connect to it with the same adapter and URL handling as to a real server.
 * Use one per service database.
 */
import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedDatabase {
  /** Service database URL; carries `connection_limit=1` (see below). */
  url: string;
  stop(): Promise<void>;
}

export async function startPglite(options: { dataDir: string; port?: number }): Promise<EmbeddedDatabase> {
  await mkdir(options.dataDir, { recursive: true });
  const db = await PGlite.create(options.dataDir);
  // PGlite has a single session: transactions on different connections would not be
  // isolated from each other. So clients get one pooled connection (connection_limit=1,
  // honoured by openDatabase, createPrismaAdapter and migrate). The server allows one more so a client
  // reconnecting right after closing is not refused while the old socket is torn down.
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: options.port ?? 0, maxConnections: 2 });
  try {
    await server.start();
  } catch (err) {
    await db.close();
    throw err;
  }
  // pgbouncer=true: no named prepared statements, which would outlive a client's reconnect in the one session.
  const url = `postgresql://postgres@${server.getServerConn()}/postgres?connection_limit=1&pgbouncer=true`;
  return {
    url,
    async stop() {
      await server.stop();
      // close() checkpoints, so the data folder is consistent for the next start.
      await db.close();
    },
  };
}
