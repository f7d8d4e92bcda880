"use client";
// How a refusal reads to the person: the API's limits (QUOTA_EXCEEDED, RATE_LIMITED,
// OVERLOADED) get a plain title and, when the API said how long to wait
// (details.retryAfterSeconds, or an upload's Retry-After header), a "Try again in N s" that
// counts down; ACCESS_REVOKED says that the person's access changed. Every error view
// (InlineError, ErrorState, the upload form, the playground's runs, the live pool) uses this.
import { useEffect, useState } from "react";

/** What the views need of an error: the API's code and message, and the wait if any. */
export interface Refusal {
  message: string;
  code?: string;
  retryAfterSeconds?: number;
}

const titles: Record<string, string> = {
  QUOTA_EXCEEDED: "The team's quota is used up",
  RATE_LIMITED: "Too many requests",
  OVERLOADED: "The server is busy",
  ACCESS_REVOKED: "Your access changed",
};

/** The title for a code the person should read as a limit or a lost access (else undefined). */
export function problemTitle(code: string | undefined): string | undefined {
  return code ? titles[code] : undefined;
}

/** The API's words without their own "try again in N s" / "try again shortly" (the countdown says it). */
export function withoutRetryHint(message: string): string {
  const cut = message.replace(/[\s;,.]*try again (in \d+(\.\d+)? ?s(econds?)?|shortly|later)\.?\s*$/i, "");
  return cut === message ? message : `${cut}.`;
}

/** The message as shown: "Title: the API's words." (the wait goes in RetryCountdown). */
export function problemText(err: Refusal): string {
  const title = problemTitle(err.code);
  const message = err.retryAfterSeconds !== undefined ? withoutRetryHint(err.message) : err.message;
  return title ? `${title}: ${message}` : message;
}

/** "Try again in N s", counting down each second, then "You may try again now." */
export function RetryCountdown({ seconds }: { seconds: number }) {
  const [left, setLeft] = useState(seconds);
  useEffect(() => {
    setLeft(seconds);
    const started = Date.now();
    const t = setInterval(() => {
      const next = Math.max(0, seconds - Math.floor((Date.now() - started) / 1000));
      setLeft(next);
      if (next === 0) clearInterval(t);
    }, 1000);
    return () => clearInterval(t);
  }, [seconds]);
  // role=timer is not announced on every tick; the alert around it reads the first value.
  return (
    <span role="timer" className="retry-after" data-testid="retry-after" data-seconds={seconds}>
      {left > 0 ? `Try again in ${left} s.` : "You may try again now."}
    </span>
  );
}

/** One refusal in words, with its countdown when the API gave a wait. */
export function ProblemText({ error }: { error: Refusal }) {
  return (
    <>
      {problemText(error)}
      {error.retryAfterSeconds !== undefined && (
        <>
          {" "}
          <RetryCountdown seconds={error.retryAfterSeconds} />
        </>
      )}
    </>
  );
}
