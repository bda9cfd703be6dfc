import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { events, subjectName, streamName, streams } from "@seeme/contracts/subjects";

describe("subject catalogue", () => {
  it("names every event <domain>.v1.<entity>.<verb> inside its stream", () => {
    for (const def of Object.values(events)) {
      expect(def.subject).toMatch(/^[a-z]+\.v1\.[a-z_]+\.[a-z_]+$/);
      const streamPrefix = streams[def.stream].subjects.replace(">", "");
      expect(def.subject.startsWith(streamPrefix)).toBe(true);
    }
  });

  it("prefixes subjects and streams for isolation", () => {
    expect(subjectName("t1", "identity.v1.account.deleted")).toBe("t1.identity.v1.account.deleted");
    expect(subjectName("", "a.b")).toBe("a.b");
    expect(streamName("t.1", "IDENTITY")).toBe("t_1_IDENTITY");
  });

  it("round-trips an event payload", () => {
    const msg = create(events.accountDeleted.schema, { eventId: "e1", accountId: "a1" });
    const back = fromBinary(events.accountDeleted.schema, toBinary(events.accountDeleted.schema, msg));
    expect(back.accountId).toBe("a1");
  });
});
