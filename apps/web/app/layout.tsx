import type { Metadata } from "next";
import { headers } from "next/headers";
import type { ReactNode } from "react";
import { ApiProvider } from "@/components/api/provider";
import "./globals.css";

export const metadata: Metadata = { title: "Quiver", description: "LoRA adapter pool, playground and usage" };

/**
 * Where the browser reaches the API: QUIVER_PUBLIC_API_URL when set, else the host the page
 * was served from on the API's port (QUIVER_API_PORT, set by `quiver serve`).
 */
async function apiUrl(): Promise<string> {
  if (process.env.QUIVER_PUBLIC_API_URL) return process.env.QUIVER_PUBLIC_API_URL.replace(/\/$/, "");
  const h = await headers();
  const host = (h.get("x-forwarded-host") ?? h.get("host") ?? "localhost").replace(/:\d+$/, "");
  const proto = h.get("x-forwarded-proto") ?? "http";
  return `${proto}://${host}:${process.env.QUIVER_API_PORT ?? "4000"}`;
}

export default async function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <ApiProvider apiUrl={await apiUrl()}>{children}</ApiProvider>
      </body>
    </html>
  );
}
