-- CreateEnum
CREATE TYPE "QuotaReservationKind" AS ENUM ('GENERATION', 'STORAGE');

-- AlterTable
ALTER TABLE "ApiKey" ADD COLUMN     "limitConcurrent" INTEGER,
ADD COLUMN     "limitRequestsPerMinute" INTEGER,
ADD COLUMN     "limitTokensPerDay" INTEGER;

-- CreateTable
CREATE TABLE "ServerSettings" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "defaultTokensPerDay" INTEGER,
    "defaultRequestsPerMinute" INTEGER,
    "defaultConcurrent" INTEGER,
    "defaultStorageBytes" BIGINT,
    "maxTokensPerDay" INTEGER,
    "maxRequestsPerMinute" INTEGER,
    "maxConcurrent" INTEGER,
    "maxStorageBytes" BIGINT,
    "teamCreation" BOOLEAN NOT NULL DEFAULT true,
    "updatedById" UUID,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ServerSettings_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "QuotaReservation" (
    "id" UUID NOT NULL,
    "teamId" UUID NOT NULL,
    "apiKeyId" UUID,
    "kind" "QuotaReservationKind" NOT NULL,
    "generationId" UUID,
    "tokens" INTEGER NOT NULL DEFAULT 0,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "holder" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "QuotaReservation_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "QuotaReservation_generationId_key" ON "QuotaReservation"("generationId");

-- CreateIndex
CREATE INDEX "QuotaReservation_teamId_expiresAt_idx" ON "QuotaReservation"("teamId", "expiresAt");

-- CreateIndex
CREATE INDEX "QuotaReservation_holder_idx" ON "QuotaReservation"("holder");

-- AddForeignKey
ALTER TABLE "QuotaReservation" ADD CONSTRAINT "QuotaReservation_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Hand-written: the settings table holds one row (id 1).
ALTER TABLE "ServerSettings" ADD CONSTRAINT "ServerSettings_one_row" CHECK ("id" = 1);
