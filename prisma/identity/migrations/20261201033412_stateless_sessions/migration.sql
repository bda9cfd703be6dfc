-- Sessions are self-verifying signed tokens now (gateways check them without
-- identity): no session row is written or read any more.

-- DropForeignKey
ALTER TABLE "Session" DROP CONSTRAINT "Session_accountId_fkey";

-- DropTable
DROP TABLE "Session";
