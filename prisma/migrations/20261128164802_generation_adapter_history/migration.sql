-- Usage history outlives adapters: GenerationAdapter keeps the adapter's name and its
-- reference becomes nullable (SET NULL on delete) instead of cascading.

-- DropForeignKey
ALTER TABLE "GenerationAdapter" DROP CONSTRAINT "GenerationAdapter_adapterId_fkey";

-- Hand-edited: add the name, fill it from the adapters, then require it.
ALTER TABLE "GenerationAdapter" ADD COLUMN "adapterName" TEXT;
UPDATE "GenerationAdapter" ga SET "adapterName" = a.name FROM "Adapter" a WHERE a.id = ga."adapterId";
ALTER TABLE "GenerationAdapter" ALTER COLUMN "adapterName" SET NOT NULL;

-- AlterTable
ALTER TABLE "GenerationAdapter" DROP CONSTRAINT "GenerationAdapter_pkey",
ALTER COLUMN "adapterId" DROP NOT NULL,
ADD CONSTRAINT "GenerationAdapter_pkey" PRIMARY KEY ("generationId", "position");

-- AddForeignKey
ALTER TABLE "GenerationAdapter" ADD CONSTRAINT "GenerationAdapter_adapterId_fkey" FOREIGN KEY ("adapterId") REFERENCES "Adapter"("id") ON DELETE SET NULL ON UPDATE CASCADE;
