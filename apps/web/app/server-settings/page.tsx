import { AppShell } from "@/components/shell/app-shell";
import { ServerSettingsPage } from "@/components/server/server-settings-page";

export default function ServerSettings() {
  return (
    <AppShell>
      <ServerSettingsPage />
    </AppShell>
  );
}
