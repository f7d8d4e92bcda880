import { AppShell } from "@/components/shell/app-shell";
import { UsagePage } from "@/components/usage/usage-page";

export default function Usage() {
  return (
    <AppShell>
      <UsagePage />
    </AppShell>
  );
}
