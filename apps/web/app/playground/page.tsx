import { AppShell } from "@/components/shell/app-shell";
import { PlaygroundPage } from "@/components/playground/playground-page";

export default function Playground() {
  return (
    <AppShell>
      <PlaygroundPage />
    </AppShell>
  );
}
