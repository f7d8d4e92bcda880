import { AppShell } from "@/components/shell/app-shell";
import { AdapterPage } from "@/components/adapter-page/adapter-page";

export default async function AdapterRoute({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return (
    <AppShell>
      <AdapterPage id={id} />
    </AppShell>
  );
}
