import type { DescMessage } from "@bufbuild/protobuf";
import { AccountDeletedSchema, AccountKeyRotatedSchema } from "./identity.js";
import { ConnectionBrokenSchema, ConnectionConfirmedSchema, InviteExpiredSchema } from "./connection.js";
import { InboxUpdatedSchema } from "./location.js";

/**
 * Every NATS subject see-me uses, with the protobuf message it carries.
 * Durable events live in one JetStream stream per domain; `inboxUpdated` is a
 * core-NATS hint (per account) and is deliberately outside any stream.
 *
 * Names are `<domain>.v1.<entity>.<past-tense-verb>`. Tests and multi-tenant
 * deployments prepend a prefix (see `subjectName`) so suites never collide.
 */
export interface EventDef<M extends DescMessage = DescMessage> {
  /** Subject without prefix. */
  readonly subject: string;
  /** JetStream stream (without prefix) that stores it. */
  readonly stream: StreamName;
  /** Payload schema. */
  readonly schema: M;
}

export type StreamName = "IDENTITY" | "CONNECTION";

/** Streams, each capturing all of its domain's durable subjects. */
export const streams: Record<StreamName, { subjects: string }> = {
  IDENTITY: { subjects: "identity.v1.>" },
  CONNECTION: { subjects: "connection.v1.>" },
};

export const events = {
  accountDeleted: { subject: "identity.v1.account.deleted", stream: "IDENTITY", schema: AccountDeletedSchema },
  accountKeyRotated: {
    subject: "identity.v1.account.key_rotated",
    stream: "IDENTITY",
    schema: AccountKeyRotatedSchema,
  },
  connectionConfirmed: {
    subject: "connection.v1.connection.confirmed",
    stream: "CONNECTION",
    schema: ConnectionConfirmedSchema,
  },
  connectionBroken: {
    subject: "connection.v1.connection.broken",
    stream: "CONNECTION",
    schema: ConnectionBrokenSchema,
  },
  inviteExpired: { subject: "connection.v1.invite.expired", stream: "CONNECTION", schema: InviteExpiredSchema },
} as const satisfies Record<string, EventDef>;

/** Live inbox hints: `location.v1.inbox.updated.<accountId>` or `.all`. */
export const inboxUpdated = {
  schema: InboxUpdatedSchema,
  forAccount: (accountId: string) => `location.v1.inbox.updated.${accountId}`,
  broadcast: "location.v1.inbox.updated.all",
} as const;

/**
 * Live-stream presence: every open Subscribe stream answers core requests on
 * `location.v1.stream.probed.<accountId>`, so any replica learns whether the
 * account has a stream open anywhere (NATS reports "no responders" at once).
 */
export const liveStream = {
  forAccount: (accountId: string) => `location.v1.stream.probed.${accountId}`,
} as const;

/** Applies a deployment/test prefix ("" in production) to a subject or stream. */
export function subjectName(prefix: string, subject: string): string {
  return prefix ? `${prefix}.${subject}` : subject;
}

export function streamName(prefix: string, stream: StreamName): string {
  return prefix ? `${prefix.replace(/[^A-Za-z0-9_-]/g, "_")}_${stream}` : stream;
}
