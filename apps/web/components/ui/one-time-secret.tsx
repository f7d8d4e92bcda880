"use client";
// A secret the API returns once (an API key, an invitation token). It lives only in the
// state of the component that received it, is never logged or stored, and is gone when the
// user dismisses this panel.
import { useEffect, useId, useRef, type ReactNode } from "react";
import { CopyButton } from "./copy-button";

export function OneTimeSecret({
  title,
  value,
  children,
  onDismiss,
  testId,
}: {
  title: string;
  value: string;
  children?: ReactNode;
  onDismiss(): void;
  testId?: string;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  const titleId = useId();
  // Move focus to the panel so keyboard and screen-reader users land on the secret.
  useEffect(() => heading.current?.focus(), []);
  return (
    <section className="secret panel" aria-labelledby={titleId} data-testid={testId}>
      <h3 id={titleId} tabIndex={-1} ref={heading}>
        {title}
      </h3>
      <p className="warning">
        <strong>Copy it now: you will not see it again.</strong> Quiver stores only a hash of it.
      </p>
      <div className="secret-value">
        <code data-testid="secret-value">{value}</code>
        <CopyButton value={value} />
      </div>
      {children}
      <p>
        <button type="button" onClick={onDismiss}>
          I have copied it
        </button>
      </p>
    </section>
  );
}
