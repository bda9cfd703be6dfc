import { runMain } from "@seeme/runtime/main";
import { loadConfig } from "./config.js";
import { startGatewayService } from "./service.js";

runMain("gateway", () => startGatewayService(loadConfig(process.env)));
