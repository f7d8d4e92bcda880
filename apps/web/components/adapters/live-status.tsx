"use client";
// Whether a page follows pool events right now, and why not when the API ended them: an
// ACCESS_REVOKED error (the person's session, key or role in the team changed while the page
// was open) is said as such, with a way to read the team again and reconnect.
import type { GraphQLRequestError } from "@/components/api/graphql";
import { useApi } from "@/components/api/provider";
import { useTeam } from "@/components/shell/team-context";
import { ProblemText } from "@/components/ui/problem";

/** The live indicator (the socket is shared by the whole session; `error` is this page's subscription's). */
export function LiveIndicator({ error }: { error: GraphQLRequestError | undefined }) {
  const { liveStatus } = useApi();
  const revoked = error?.code === "ACCESS_REVOKED";
  const state = error || liveStatus === "closed" ? "off" : liveStatus === "connected" ? "on" : "waiting";
  const text = state === "on" ? "Live" : revoked ? "Not live: your access changed" : state === "off" ? "Not live: reload to see changes" : "Connecting…";
  return (
    <span className={`live ${state}`} data-testid="live-status" role="status">
      <span aria-hidden="true" className="dot" /> {text}
    </span>
  );
}

/** The notice shown when the API ended the page's live updates because access changed. */
export function AccessRevokedNotice({ error, onRetry }: { error: GraphQLRequestError | undefined; onRetry(): void }) {
  const { refresh } = useTeam();
  if (error?.code !== "ACCESS_REVOKED") return null;
  return (
    <div className="error notice" role="alert" data-testid="access-revoked">
      <p>
        <ProblemText error={error} /> Live updates stopped; what this page shows may be out of date.
      </p>
      <button
        type="button"
        className="secondary small"
        onClick={() => {
          refresh();
          onRetry();
        }}
      >
        Check my access and reconnect
      </button>
    </div>
  );
}
