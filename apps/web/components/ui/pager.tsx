// Previous/next navigation over cursor pages, with the position in the whole list.
export function Pager({
  page,
  pageSize,
  shown,
  total,
  hasNext,
  busy,
  onPrevious,
  onNext,
  label,
}: {
  page: number;
  pageSize: number;
  shown: number;
  total: number;
  hasNext: boolean;
  busy: boolean;
  onPrevious(): void;
  onNext(): void;
  label: string;
}) {
  const first = total === 0 ? 0 : page * pageSize + 1;
  const last = page * pageSize + shown;
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" className="secondary small" onClick={onPrevious} disabled={busy || page === 0}>
        ← Previous
      </button>
      <span className="muted small" data-testid="pager-status" aria-live="polite">
        Page {page + 1} of {pages} · {first}–{last} of {total}
      </span>
      <button type="button" className="secondary small" onClick={onNext} disabled={busy || !hasNext}>
        Next →
      </button>
    </nav>
  );
}
