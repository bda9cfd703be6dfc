-- CreateTable
CREATE TABLE "invites" (
    "id" UUID NOT NULL,
    "initiator_account_id" TEXT NOT NULL,
    "sender_pair_id" VARCHAR(40) NOT NULL,
    "recipient_pair_id" VARCHAR(40) NOT NULL,
    "packet_life_seconds" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "invites_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "connections" (
    "id" UUID NOT NULL,
    "initiator_account_id" TEXT NOT NULL,
    "initiator_pair_id" VARCHAR(40) NOT NULL,
    "recipient_account_id" TEXT NOT NULL,
    "recipient_pair_id" VARCHAR(40) NOT NULL,
    "packet_life_seconds" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "connections_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "used_pair_ids" (
    "pair_id" VARCHAR(40) NOT NULL,

    CONSTRAINT "used_pair_ids_pkey" PRIMARY KEY ("pair_id")
);

-- CreateTable
CREATE TABLE "outbox_events" (
    "id" UUID NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "event" TEXT NOT NULL,
    "payload" BYTEA NOT NULL,

    CONSTRAINT "outbox_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "invites_initiator_account_id_idx" ON "invites"("initiator_account_id");

-- CreateIndex
CREATE INDEX "invites_expires_at_idx" ON "invites"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "invites_sender_pair_id_recipient_pair_id_key" ON "invites"("sender_pair_id", "recipient_pair_id");

-- CreateIndex
CREATE UNIQUE INDEX "connections_initiator_pair_id_key" ON "connections"("initiator_pair_id");

-- CreateIndex
CREATE UNIQUE INDEX "connections_recipient_pair_id_key" ON "connections"("recipient_pair_id");

-- CreateIndex
CREATE INDEX "connections_initiator_account_id_idx" ON "connections"("initiator_account_id");

-- CreateIndex
CREATE INDEX "connections_recipient_account_id_idx" ON "connections"("recipient_account_id");

-- CreateIndex
CREATE UNIQUE INDEX "outbox_events_seq_key" ON "outbox_events"("seq");
