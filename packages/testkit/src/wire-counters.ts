/**
 * Counters of what a client sends on the wire, for a TCP proxy's `watch`
 * (tcp-proxy.ts): each call returns a fresh parser for one connection, fed the
 * client's bytes in whatever chunks they arrive, calling `count(n)` per find.
 */
export type WireWatcher = (chunk: Buffer) => void;

/** PostgreSQL frontend Execute ('E') and simple Query ('Q') messages: one per statement run. */
export function pgStatements(count: (n: number) => void): () => WireWatcher {
  return () => {
    let buffer: Buffer = Buffer.alloc(0);
    let started = false;
    return (chunk) => {
      let data = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      let statements = 0;
      while (true) {
        if (!started) {
          // Startup (or SSLRequest, code 80877103, followed by the real startup) carries no type byte.
          if (data.length < 8) break;
          const length = data.readUInt32BE(0);
          if (data.length < length) break;
          if (data.readUInt32BE(4) !== 80877103) started = true;
          data = data.subarray(length);
          continue;
        }
        if (data.length < 5) break;
        const length = data.readUInt32BE(1);
        if (data.length < 1 + length) break;
        if (data[0] === 0x45 || data[0] === 0x51) statements += 1;
        data = data.subarray(1 + length);
      }
      buffer = data;
      if (statements) count(statements);
    };
  };
}

/** HTTP/2 HEADERS frames on odd (client) streams after the connection preface: one per request. */
export function http2Requests(count: (n: number) => void): () => WireWatcher {
  return () => {
    let buffer: Buffer = Buffer.alloc(0);
    let preface = false;
    return (chunk) => {
      let data = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      if (!preface) {
        if (data.length < 24) {
          buffer = data;
          return;
        }
        data = data.subarray(24);
        preface = true;
      }
      let requests = 0;
      while (data.length >= 9) {
        const length = data.readUIntBE(0, 3);
        if (data.length < 9 + length) break;
        const stream = data.readUInt32BE(5) & 0x7fffffff;
        if (data[3] === 0x1 && stream % 2 === 1) requests += 1;
        data = data.subarray(9 + length);
      }
      buffer = data;
      if (requests) count(requests);
    };
  };
}
