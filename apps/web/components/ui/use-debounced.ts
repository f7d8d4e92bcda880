"use client";
// A value that follows another after it has stopped changing for `ms` (search boxes: one
// request when the person pauses, not one per key).
import { useEffect, useState } from "react";

export function useDebounced<T>(value: T, ms = 250): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return settled;
}
