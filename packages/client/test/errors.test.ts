import { Code } from "@connectrpc/connect";
import { ClientError } from "../src/errors.js";

test("a ClientError is recognised by instanceof (ConnectError's own check looks only at the name)", () => {
  const error = new ClientError("replay", "refused");
  expect(error instanceof ClientError).toBe(true);
  expect(new Error("other") instanceof ClientError).toBe(false);
  expect(error.code).toBe(Code.InvalidArgument);
});
