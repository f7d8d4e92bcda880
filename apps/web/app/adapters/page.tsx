import { AppShell } from "@/components/shell/app-shell";
import { AdapterTable } from "@/components/adapters/adapter-table";

export default function AdaptersPage() {
  return (
    <AppShell>
      <h1>Adapter pool</h1>
      <AdapterTable />
    </AppShell>
  );
}
