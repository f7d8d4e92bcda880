// The three states every data view has besides its data: loading, failed (with a retry)
// and empty. Screen readers hear loading through aria-busy/role=status and errors through
// role=alert. A limit the API reports (quota, rate, overload) reads as such, with its wait.
import type { ReactNode } from "react";
import type { GraphQLRequestError } from "@/components/api/graphql";
import { ProblemText, type Refusal } from "./problem";

/** The code and wait of an error, when it came from the API (a plain Error has neither). */
function refusalOf(error: Error): Refusal {
  const e = error as Partial<GraphQLRequestError>;
  return { message: error.message, code: e.code, retryAfterSeconds: e.retryAfterSeconds };
}

export function LoadingState({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="state loading" role="status" aria-busy="true">
      {label}
    </p>
  );
}

export function ErrorState({ error, what, onRetry }: { error: GraphQLRequestError | Error; what: string; onRetry?: () => void }) {
  return (
    <div className="state error-state" role="alert" data-code={refusalOf(error).code}>
      <p>
        Could not load {what}: <ProblemText error={refusalOf(error)} />
      </p>
      {onRetry && (
        <button type="button" className="secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function EmptyState({ title, children, testId }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="state empty-state" data-testid={testId}>
      <p>{title}</p>
      {children && <p className="muted">{children}</p>}
    </div>
  );
}

/** An API refusal shown next to the control that caused it. */
export function InlineError({ error, id }: { error: Error | undefined; id?: string }) {
  if (!error) return null;
  return (
    <p className="error" role="alert" id={id} data-code={refusalOf(error).code}>
      <ProblemText error={refusalOf(error)} />
    </p>
  );
}
