import { AppShell } from "@/components/shell/app-shell";
import { AdapterPoolPage } from "@/components/adapters/adapter-pool-page";

export default function AdaptersPage() {
  return (
    <AppShell>
      <AdapterPoolPage />
    </AppShell>
  );
}
