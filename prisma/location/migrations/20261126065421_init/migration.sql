-- CreateTable
CREATE TABLE "route" (
    "pair_id" TEXT NOT NULL,
    "account_id" TEXT NOT NULL,
    "peer_pair_id" TEXT NOT NULL,
    "peer_account_id" TEXT NOT NULL,
    "connection_id" TEXT NOT NULL,
    "packet_life_ms" INTEGER NOT NULL,
    "last_packet_id" BIGINT NOT NULL DEFAULT -1,

    CONSTRAINT "route_pkey" PRIMARY KEY ("pair_id")
);

-- CreateTable
CREATE TABLE "retired_pair" (
    "pair_id" TEXT NOT NULL,
    "retired_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "retired_pair_pkey" PRIMARY KEY ("pair_id")
);

-- CreateTable
CREATE TABLE "projection_state" (
    "id" INTEGER NOT NULL,
    "rebuilt_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "projection_state_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "packet" (
    "recipient_pair_id" TEXT NOT NULL,
    "packet_id" BIGINT NOT NULL,
    "sender_pair_id" TEXT NOT NULL,
    "blob" BYTEA NOT NULL,
    "stored_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "seq" BIGSERIAL NOT NULL,

    CONSTRAINT "packet_pkey" PRIMARY KEY ("recipient_pair_id","packet_id")
);

-- CreateTable
CREATE TABLE "delivery_receipt" (
    "recipient_pair_id" TEXT NOT NULL,
    "packet_id" BIGINT NOT NULL,
    "sender_pair_id" TEXT NOT NULL,
    "acked_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "delivery_receipt_pkey" PRIMARY KEY ("recipient_pair_id","packet_id")
);

-- CreateTable
CREATE TABLE "server_message" (
    "id" SERIAL NOT NULL,
    "type" INTEGER NOT NULL,
    "sub_type" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    "broadcast" BOOLEAN NOT NULL,
    "stored_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "server_message_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "server_message_recipient" (
    "message_id" INTEGER NOT NULL,
    "account_id" TEXT NOT NULL,

    CONSTRAINT "server_message_recipient_pkey" PRIMARY KEY ("message_id","account_id")
);

-- CreateTable
CREATE TABLE "server_message_ack" (
    "message_id" INTEGER NOT NULL,
    "account_id" TEXT NOT NULL,

    CONSTRAINT "server_message_ack_pkey" PRIMARY KEY ("message_id","account_id")
);

-- CreateTable
CREATE TABLE "processed_event" (
    "event_id" TEXT NOT NULL,
    "processed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "processed_event_pkey" PRIMARY KEY ("event_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "route_peer_pair_id_key" ON "route"("peer_pair_id");

-- CreateIndex
CREATE INDEX "route_account_id_idx" ON "route"("account_id");

-- CreateIndex
CREATE INDEX "route_peer_account_id_idx" ON "route"("peer_account_id");

-- CreateIndex
CREATE INDEX "packet_recipient_pair_id_stored_at_seq_idx" ON "packet"("recipient_pair_id", "stored_at", "seq");

-- CreateIndex
CREATE INDEX "packet_expires_at_idx" ON "packet"("expires_at");

-- CreateIndex
CREATE INDEX "delivery_receipt_sender_pair_id_idx" ON "delivery_receipt"("sender_pair_id");

-- CreateIndex
CREATE INDEX "server_message_expires_at_idx" ON "server_message"("expires_at");

-- CreateIndex
CREATE INDEX "server_message_recipient_account_id_idx" ON "server_message_recipient"("account_id");

-- CreateIndex
CREATE INDEX "server_message_ack_account_id_idx" ON "server_message_ack"("account_id");

-- CreateIndex
CREATE INDEX "processed_event_processed_at_idx" ON "processed_event"("processed_at");

-- AddForeignKey
ALTER TABLE "server_message_recipient" ADD CONSTRAINT "server_message_recipient_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "server_message"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "server_message_ack" ADD CONSTRAINT "server_message_ack_message_id_fkey" FOREIGN KEY ("message_id") REFERENCES "server_message"("id") ON DELETE CASCADE ON UPDATE CASCADE;
