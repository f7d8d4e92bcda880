import { AppShell } from "@/components/shell/app-shell";
import { PoolMapPage } from "@/components/pool-map/pool-map-page";

export default function PoolMap() {
  return (
    <AppShell>
      <PoolMapPage />
    </AppShell>
  );
}
