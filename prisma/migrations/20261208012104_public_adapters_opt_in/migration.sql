-- CreateTable
CREATE TABLE "TeamPoolAdapter" (
    "teamId" UUID NOT NULL,
    "adapterId" UUID NOT NULL,
    "addedById" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TeamPoolAdapter_pkey" PRIMARY KEY ("teamId","adapterId")
);

-- CreateIndex
CREATE INDEX "TeamPoolAdapter_adapterId_idx" ON "TeamPoolAdapter"("adapterId");

-- AddForeignKey
ALTER TABLE "TeamPoolAdapter" ADD CONSTRAINT "TeamPoolAdapter_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "Team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TeamPoolAdapter" ADD CONSTRAINT "TeamPoolAdapter_adapterId_fkey" FOREIGN KEY ("adapterId") REFERENCES "Adapter"("id") ON DELETE CASCADE ON UPDATE CASCADE;
