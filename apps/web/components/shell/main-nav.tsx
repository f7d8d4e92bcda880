"use client";
// The dashboard's sections. Every role may open all of them (adapter.read, member.read and
// usage.read are VIEWER actions); each page then shows only the controls the role allows
// (the playground shows a VIEWER the retrieval but no run controls; the catalogue of public
// adapters offers "Add to pool" to pool.manage only). Server settings are listed for server
// administrators only (me.isAdmin; the API refuses everyone else).
import Link from "next/link";
import { usePathname } from "next/navigation";

const sections = [
  { href: "/adapters", label: "Adapters" },
  { href: "/catalogue", label: "Catalogue" },
  { href: "/pool-map", label: "Pool map" },
  { href: "/playground", label: "Playground" },
  { href: "/team", label: "Team" },
  { href: "/usage", label: "Usage" },
] as const;

const adminSections = [{ href: "/server-settings", label: "Server" }] as const;

export function MainNav({ isAdmin }: { isAdmin: boolean }) {
  const pathname = usePathname();
  return (
    <nav aria-label="Main" className="main-nav">
      {[...sections, ...(isAdmin ? adminSections : [])].map((s) => {
        const current = pathname === s.href || pathname.startsWith(`${s.href}/`);
        return (
          <Link key={s.href} href={s.href} aria-current={current ? "page" : undefined}>
            {s.label}
          </Link>
        );
      })}
    </nav>
  );
}
