"use client";
// An upload's refusal beside the field (or form) it is about: the message, the wait with its
// countdown when the API gave one (too many uploads in progress), and the API's hint.
import { RetryCountdown } from "@/components/ui/problem";
import type { UploadProblem } from "./upload-errors";

export function UploadProblemView({ problem, id, testId }: { problem: UploadProblem; id?: string; testId: string }) {
  return (
    <div id={id} className="error" role="alert" data-testid={testId}>
      <p>
        {problem.message}
        {problem.retryAfterSeconds !== undefined && (
          <>
            {" "}
            <RetryCountdown seconds={problem.retryAfterSeconds} />
          </>
        )}
      </p>
      {problem.hint && <p className="hint">{problem.hint}</p>}
    </div>
  );
}
