import { runMain } from "@seeme/runtime/main";
import { loadConfig } from "./config.js";
import { startLocationService } from "./service.js";

runMain("location", () => startLocationService(loadConfig(process.env)));
