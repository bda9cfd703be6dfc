import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import * as bindings from "@prisma/schema-engine-wasm/schema_engine_bg";
import type { SchemaEngine } from "@prisma/schema-engine-wasm/schema_engine_bg";
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";

export type { SchemaEngine };

let ready: Promise<void> | undefined;

/**
 * The package's own entry does `import * as wasm from "./schema_engine_bg.wasm"`, which
 * Node 20 cannot load, so the module is instantiated here against the JS glue instead.
 * The glue keeps the instance in module state: instantiate once per process.
 */
function loadWasm(): Promise<void> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    // The .wasm is not in the package's "exports"; locate it next to the glue module.
    const wasmPath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg").replace(/\.js$/, ".wasm");
    const glue: Record<string, unknown> = { ...bindings };
    // The engine races operations against setTimeout and never clears the timer; unref it
    // so a finished migration does not hold the process (or jest) open for 10 s.
    for (const name of Object.keys(glue).filter((key) => key.startsWith("__wbg_setTimeout_"))) {
      glue[name] = (callback: () => void, ms: number) => setTimeout(callback, ms >>> 0).unref();
    }
    const imports = { "./schema_engine_bg.js": glue } as WebAssembly.Imports;
    const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), imports);
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start: () => void }).__wbindgen_start();
  })();
  return ready;
}

/** Engine log lines are JSON; only errors are worth surfacing to the caller. */
export type EngineLog = (line: string) => void;

/** Opens a schema engine on a driver adapter factory; call `engine.free()` when done. */
export async function openSchemaEngine(
  factory: SqlMigrationAwareDriverAdapterFactory,
  schema: { path: string; content: string },
  onLog: EngineLog = () => {},
): Promise<SchemaEngine> {
  await loadWasm();
  return bindings.SchemaEngine.new(
    { datamodels: [[schema.path, schema.content]] },
    onLog,
    bindMigrationAwareSqlAdapterFactory(factory),
  );
}
