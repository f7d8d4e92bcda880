-- Durable usage and recovery (docs/api.md, "Faults and durability"). Generations recorded
-- before this migration have no owner: the first start after it ends those still QUEUED,
-- PREFILL or DECODE as interrupted, so stop every API process before applying it.

-- AlterTable
ALTER TABLE "Generation" ADD COLUMN     "owner" UUID;

-- CreateIndex
CREATE INDEX "Generation_status_idx" ON "Generation"("status");

-- A generation's usage becomes one row, updated as its tokens are delivered. Writers made
-- one row per generation before this migration too: any duplicate is dropped (the newest
-- kept) so that the index can be created on any data.
DELETE FROM "UsageEvent" u USING "UsageEvent" d
WHERE u."generationId" IS NOT NULL AND u."generationId" = d."generationId"
  AND (u."createdAt", u.id) < (d."createdAt", d.id);

-- CreateIndex
CREATE UNIQUE INDEX "UsageEvent_generationId_key" ON "UsageEvent"("generationId");
