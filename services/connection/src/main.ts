import { runMain } from "@seeme/runtime/main";
import { loadConfig } from "./config.js";
import { startConnectionService } from "./service.js";

runMain("connection", () => startConnectionService(loadConfig(process.env)));
