import { runMain } from "@seeme/runtime/main";
import { loadConfig } from "./config.js";
import { startIdentityService } from "./service.js";

runMain("identity", () => startIdentityService(loadConfig(process.env)));
