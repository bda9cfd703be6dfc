-- AlterTable
ALTER TABLE "delivery_receipt" ADD COLUMN     "superseded" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "packet" ADD COLUMN     "held" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "slot" SMALLINT NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "seen_packet" (
    "recipient_pair_id" TEXT NOT NULL,
    "packet_id" BIGINT NOT NULL,
    "seen_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "seen_packet_pkey" PRIMARY KEY ("recipient_pair_id","packet_id")
);

-- CreateTable
CREATE TABLE "seen_range" (
    "recipient_pair_id" TEXT NOT NULL,
    "first" BIGINT NOT NULL,
    "last" BIGINT NOT NULL,
    "touched_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "seen_range_pkey" PRIMARY KEY ("recipient_pair_id","first")
);

-- CreateTable
CREATE TABLE "retired_account" (
    "account_id" TEXT NOT NULL,
    "retired_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "retired_account_pkey" PRIMARY KEY ("account_id")
);

-- CreateIndex
CREATE INDEX "seen_range_touched_at_idx" ON "seen_range"("touched_at");

-- CreateIndex
CREATE INDEX "packet_held_stored_at_idx" ON "packet"("held", "stored_at");

-- CreateIndex
CREATE INDEX "packet_recipient_pair_id_slot_idx" ON "packet"("recipient_pair_id", "slot");
