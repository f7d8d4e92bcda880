"use client";
// Pinning an adapter that retrieval does not pick: search the team's adapters (and public
// ones) by name and pin an active one.
import { useEffect, useId, useState } from "react";
import { useQuery } from "@/components/api/use-query";
import type { PinnedAdapter } from "./retrieval-preview";

const SEARCH = /* GraphQL */ `
  query PinSearch($search: String!) {
    adapters(first: 8, search: $search, includePublic: true) {
      edges {
        node {
          id
          name
          status
          team {
            name
          }
        }
      }
    }
  }
`;

interface Found {
  id: string;
  name: string;
  status: string;
  team: { name: string };
}

export function AdapterPicker({ pinned, onPin }: { pinned: PinnedAdapter[]; onPin(a: PinnedAdapter): void }) {
  const id = useId();
  const [text, setText] = useState("");
  const [search, setSearch] = useState("");
  useEffect(() => {
    const t = setTimeout(() => setSearch(text.trim()), 250);
    return () => clearTimeout(t);
  }, [text]);
  const q = useQuery<{ adapters: { edges: { node: Found }[] } }>(SEARCH, { search }, { skip: !search });
  const found = search ? (q.data?.adapters.edges.map((e) => e.node) ?? []) : [];
  const pinnedIds = new Set(pinned.map((p) => p.id));
  return (
    <div className="picker">
      <label htmlFor={id}>Pin another adapter</label>
      <input id={id} type="search" placeholder="Search adapters by name" value={text} onChange={(e) => setText(e.target.value)} />
      {search && q.data && (
        <ul className="picks" aria-label="Matching adapters">
          {found.length === 0 && <li className="muted small">No adapter matches “{search}”.</li>}
          {found.map((a) => (
            <li key={a.id}>
              <span className="name">{a.name}</span>
              <span className="muted small">{a.status === "ACTIVE" ? a.team.name : a.status.toLowerCase()}</span>
              <button
                type="button"
                className="secondary small"
                disabled={a.status !== "ACTIVE" || pinnedIds.has(a.id)}
                onClick={() => onPin({ id: a.id, name: a.name })}
                aria-label={`Pin ${a.name}`}
              >
                {pinnedIds.has(a.id) ? "Pinned" : "Pin"}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
