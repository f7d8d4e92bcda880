"use client";
// Copies a value to the clipboard and says so (politely, for screen readers too). Where the
// clipboard is unavailable it says to copy by hand; the value stays selectable on the page.
import { useEffect, useState } from "react";

export function CopyButton({ value, label = "Copy" }: { value: string; label?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");

  useEffect(() => {
    if (state === "idle") return;
    const t = setTimeout(() => setState("idle"), 2500);
    return () => clearTimeout(t);
  }, [state]);

  async function copy() {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(value);
      setState("copied");
    } catch {
      setState("failed");
    }
  }

  return (
    <span className="copy">
      <button type="button" className="secondary small" onClick={() => void copy()}>
        {state === "copied" ? "Copied" : label}
      </button>
      <span className="muted small" aria-live="polite">
        {state === "copied" ? "Copied to the clipboard." : state === "failed" ? "Copying failed: select the text and copy it." : ""}
      </span>
    </span>
  );
}
