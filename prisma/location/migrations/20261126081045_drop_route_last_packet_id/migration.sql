-- AlterTable
ALTER TABLE "route" DROP COLUMN "last_packet_id";
