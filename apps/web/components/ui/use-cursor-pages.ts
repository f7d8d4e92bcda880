"use client";
// Previous/next over a connection's cursor pages. cursors[i] is the `after` that reaches page
// i; going back pops the stack. The cursors belong to one question (search, filter, order,
// page size, team), given as a string: a new question starts again at the first page.
import { useState } from "react";

export interface CursorPages {
  /** The page shown, from 0. */
  page: number;
  /** The `after` argument for that page (null for the first). */
  after: string | null;
  next(endCursor: string | null): void;
  previous(): void;
}

export function useCursorPages(question: string): CursorPages {
  const [paging, setPaging] = useState<{ question: string; cursors: (string | null)[] }>({ question, cursors: [null] });
  const cursors = paging.question === question ? paging.cursors : [null];
  const page = cursors.length - 1;
  return {
    page,
    after: cursors[page] ?? null,
    next: (endCursor) => {
      if (endCursor) setPaging({ question, cursors: [...cursors, endCursor] });
    },
    previous: () => setPaging({ question, cursors: cursors.slice(0, -1) }),
  };
}
