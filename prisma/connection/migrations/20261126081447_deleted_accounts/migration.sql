-- CreateTable
CREATE TABLE "deleted_accounts" (
    "account_id" TEXT NOT NULL,

    CONSTRAINT "deleted_accounts_pkey" PRIMARY KEY ("account_id")
);
