import { AppShell } from "@/components/shell/app-shell";
import { CataloguePage } from "@/components/catalogue/catalogue-page";

export default function Catalogue() {
  return (
    <AppShell>
      <CataloguePage />
    </AppShell>
  );
}
