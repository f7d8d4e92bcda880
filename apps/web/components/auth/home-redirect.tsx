"use client";
import { useRouter } from "next/navigation";
import { useEffect } from "react";
import { useApi } from "@/components/api/provider";

export function HomeRedirect() {
  const { ready, token } = useApi();
  const router = useRouter();
  useEffect(() => {
    if (ready) router.replace(token ? "/adapters" : "/login");
  }, [ready, token, router]);
  return <p className="center muted">Loading…</p>;
}
