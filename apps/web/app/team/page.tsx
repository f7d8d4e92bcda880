import { AppShell } from "@/components/shell/app-shell";
import { TeamPage } from "@/components/team/team-page";

export default function Team() {
  return (
    <AppShell>
      <TeamPage />
    </AppShell>
  );
}
