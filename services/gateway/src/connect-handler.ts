import type http from "node:http";
import type http2 from "node:http2";
import {
  Code,
  ConnectError,
  createConnectRouter,
  type ConnectRouter,
  type ConnectRouterOptions,
} from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import type { Logger } from "@seeme/runtime/logger";
import type { RequestHandler } from "./listener.js";
import { isBinaryContentType } from "./opaque.js";
import { reportParseErrorsAsInvalid } from "./public-errors.js";

/**
 * connectNodeAdapter, with one difference: a client that hangs up during a
 * response (the normal way a Subscribe stream ends) is not an error. The stock
 * adapter prints every such case to the console; we stay quiet about those and
 * log real failures through pino.
 */
export function createConnectHandler(
  options: ConnectRouterOptions & {
    routes(router: ConnectRouter): void;
    /**
     * Methods served without decoding their messages (opaque.ts) when the call
     * is binary; JSON calls to the same paths fall through to `routes`.
     */
    opaqueRoutes?(router: ConnectRouter): void;
    log: Logger;
  },
): RequestHandler {
  const gate = options.requestGate;
  const newRouter = () =>
    createConnectRouter({
      acceptCompression: [compressionGzip, compressionBrotli],
      ...options,
      // Runs for every call before its body is read (whatever the protocol).
      requestGate: (ctx) => {
        reportParseErrorsAsInvalid(ctx);
        return gate?.(ctx);
      },
    });
  const router = newRouter();
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, handler]));
  const opaque = newRouter();
  options.opaqueRoutes?.(opaque);
  const opaqueHandlers = new Map(opaque.handlers.map((handler) => [handler.requestPath, handler]));
  return (req, res) => {
    const path = req.url?.split("?", 2)[0] ?? "";
    const opaqueHandler = opaqueHandlers.get(path);
    const handler =
      opaqueHandler && isBinaryContentType(req.headers["content-type"]) ? opaqueHandler : handlers.get(path);
    if (!handler) {
      (res as http.ServerResponse).writeHead(404);
      res.end();
      return;
    }
    const nodeRes = res as http.ServerResponse & http2.Http2ServerResponse;
    handler(universalRequestFromNodeRequest(req, nodeRes, undefined, undefined))
      .then((response) => universalResponseToNodeResponse(response, nodeRes))
      .catch((reason: unknown) => {
        if (res.destroyed || ConnectError.from(reason).code === Code.Aborted) return;
        options.log.error({ err: reason, method: handler.method.name }, "writing an RPC response failed");
      });
  };
}
