import pg from "pg";

/** A statement with `$1`… placeholders and its values (what `Prisma.sql` builds as `text` and `values`). */
export interface Statement {
  text: string;
  values: unknown[];
}

/** Runs statements on `pg` directly, on the pool or on one transaction's connection. */
export interface DirectSql {
  query<Row>(statement: Statement): Promise<Row[]>;
}

/** The pool as DirectSql, plus transactions. */
export interface DirectDatabase extends DirectSql {
  /**
   * Runs `work` in one transaction on one connection: BEGIN at the server's default
   * isolation (READ COMMITTED, as Prisma's `$transaction` without an isolation level),
   * COMMIT when it resolves, ROLLBACK when it throws (the error is rethrown).
   */
  transaction<T>(work: (tx: DirectSql) => Promise<T>): Promise<T>;
}

/** Prepared statement name for a SQL text; undefined runs it unnamed. */
export type StatementNames = (sql: string) => string | undefined;

const INT8 = 20;
const BYTEA = 17;
const parseBytea = pg.types.getTypeParser(BYTEA, "text");

// Rows as Prisma's $queryRaw returns them, so queries moved off Prisma read the same
// values: int8 as bigint (pg: a string) and bytea as a plain Uint8Array (pg: a Buffer).
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === INT8) return (value: string) => BigInt(value);
    if (oid === BYTEA)
      return (value: string) => {
        const bytes = parseBytea(value);
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      };
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig["getTypeParser"],
};

function on(client: pg.Pool | pg.PoolClient, names: StatementNames | undefined): DirectSql {
  return {
    async query<Row>({ text, values }: Statement): Promise<Row[]> {
      const result = await client.query({ name: names?.(text), text, values, types });
      return result.rows as Row[];
    },
  };
}

/** `pool` as a DirectDatabase; statements are named by `names` (shared with the Prisma adapter on the same pool). */
export function directDatabase(pool: pg.Pool, names: StatementNames | undefined): DirectDatabase {
  return {
    ...on(pool, names),
    async transaction<T>(work: (tx: DirectSql) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // A connection that dies while checked out also emits "error" (its query fails too);
      // the pool listens only while a connection is idle, and an unheard "error" crashes the process.
      const ignore = () => undefined;
      client.on("error", ignore);
      const release = (error?: Error) => {
        client.removeListener("error", ignore);
        client.release(error);
      };
      let result: T;
      try {
        await client.query("BEGIN");
        result = await work(on(client, names));
        await client.query("COMMIT");
      } catch (error) {
        // A connection that cannot even roll back is broken: released with the error, the pool drops it.
        await client.query("ROLLBACK").then(
          () => release(),
          (rollbackError: Error) => release(rollbackError),
        );
        throw error;
      }
      release();
      return result;
    },
  };
}
