"use client";
// An upload in progress: its byte progress, a cancel, and the outcome. The session's token
// and team come from the API provider; the request itself is upload-client.ts.
import { useCallback, useEffect, useRef, useState } from "react";
import { useApi } from "@/components/api/provider";
import { UploadError, type UploadedAdapter, type UploadHandle, type UploadProgress, type UploadTarget } from "./upload-client";

export interface UploadState {
  busy: boolean;
  progress: UploadProgress | null;
  run(start: (target: UploadTarget, onProgress: (p: UploadProgress) => void) => UploadHandle): Promise<UploadedAdapter | UploadError>;
  cancel(): void;
}

export function useUpload(): UploadState {
  const { apiUrl, token, teamId, setSession } = useApi();
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [busy, setBusy] = useState(false);
  const handle = useRef<UploadHandle | null>(null);
  // Leaving the page cancels an upload still running.
  useEffect(() => () => handle.current?.abort(), []);

  const run = useCallback<UploadState["run"]>(
    async (start) => {
      if (!token) return new UploadError("Sign in to upload adapters.", "UNAUTHENTICATED", 401);
      setBusy(true);
      setProgress({ loaded: 0, total: 0 });
      const h = start({ apiUrl, token, teamId }, setProgress);
      handle.current = h;
      try {
        return await h.done;
      } catch (err) {
        const e = err instanceof UploadError ? err : new UploadError((err as Error).message, "INTERNAL", 0);
        // An expired or revoked session: forget it (the shell sends the user to sign in), as
        // GraphQL requests do.
        if (e.status === 401) setSession(null);
        return e;
      } finally {
        handle.current = null;
        setBusy(false);
        setProgress(null);
      }
    },
    [apiUrl, token, teamId, setSession],
  );
  const cancel = useCallback(() => handle.current?.abort(), []);
  return { busy, progress, run, cancel };
}
