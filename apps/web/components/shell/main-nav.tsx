"use client";
// The dashboard's sections. Every role may open all of them (adapter.read, member.read and
// usage.read are VIEWER actions); each page then shows only the controls the role allows
// (the playground shows a VIEWER the retrieval but no run controls).
import Link from "next/link";
import { usePathname } from "next/navigation";

const sections = [
  { href: "/adapters", label: "Adapters" },
  { href: "/pool-map", label: "Pool map" },
  { href: "/playground", label: "Playground" },
  { href: "/team", label: "Team" },
  { href: "/usage", label: "Usage" },
] as const;

export function MainNav() {
  const pathname = usePathname();
  return (
    <nav aria-label="Main" className="main-nav">
      {sections.map((s) => {
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
