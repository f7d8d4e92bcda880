"use client";
// The adapters' embeddings projected to two dimensions (the API's first two principal
// components), as a hand-written SVG scatter with one link per point: Tab reaches each one,
// Enter or a click opens the adapter. Both axes share one scale, so distances are honest.
import { useId, useState } from "react";
import { useElementWidth } from "@/components/ui/use-element-width";
import { labelOffsets } from "./label-layout";
import type { MapAdapter, PoolMapData } from "./pool-map-query";

const pad = 16;
const LABELS_UP_TO = 40;

interface Props {
  adapters: MapAdapter[];
  points: PoolMapData["points"];
  teamId: string;
  onOpen(adapterId: string): void;
}

export function PoolScatter({ adapters, points, teamId, onOpen }: Props) {
  const [box, width] = useElementWidth<HTMLDivElement>();
  const [active, setActive] = useState<string | null>(null);
  const titleId = useId();
  const descId = useId();
  const byId = new Map(adapters.map((a) => [a.id, a]));
  const size = Math.max(0, Math.min(width, 560));
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const span = Math.max(x1 - x0, y1 - y0) || 1;
  // Room on the right for the labels of the rightmost points (about 6.5 px per character).
  const labelRoom = points.length <= LABELS_UP_TO ? Math.min(150, Math.max(0, ...adapters.map((a) => a.name.length)) * 6.5 + 12) : 0;
  const scale = Math.max(1, size - 2 * pad - labelRoom) / span;
  const cx = (x: number) => pad + (x - x0) * scale + ((span - (x1 - x0)) * scale) / 2;
  const cy = (y: number) => pad + (y1 - y) * scale + ((span - (y1 - y0)) * scale) / 2;
  const foreign = adapters.some((a) => a.team.id !== teamId);
  const activeAdapter = active ? byId.get(active) : undefined;
  const labelled = points.length <= LABELS_UP_TO;
  const offsets = labelled ? labelOffsets(points.map((p) => ({ x: cx(p.x), y: cy(p.y), text: byId.get(p.adapter.id)?.name ?? "" }))) : [];

  return (
    <figure className="chart scatter" data-testid="scatter">
      <figcaption className="chart-head">
        <span className="strong">Embeddings in two dimensions</span>
        {foreign && (
          <ul className="legend">
            <li>
              <svg width="10" height="10" aria-hidden="true">
                <circle cx="5" cy="5" r="4" className="point own" />
              </svg>
              this team
            </li>
            <li>
              <svg width="10" height="10" aria-hidden="true">
                <circle cx="5" cy="5" r="4" className="point public" />
              </svg>
              public, other teams
            </li>
          </ul>
        )}
      </figcaption>
      <div ref={box} className="chart-box">
        {size > 0 && (
          <svg width={size} height={size} aria-labelledby={titleId} aria-describedby={descId} role="group">
            <title id={titleId}>Adapters projected onto the first two principal components of their embeddings</title>
            <desc id={descId}>Each point is a link to its adapter; nearby points retrieve for similar inputs.</desc>
            <rect className="frame" x={0.5} y={0.5} width={size - 1} height={size - 1} />
            {points.map((p, i) => {
              const a = byId.get(p.adapter.id);
              if (!a) return null;
              const own = a.team.id === teamId;
              return (
                <a
                  key={a.id}
                  href={`/adapters/${a.id}`}
                  aria-label={`${a.name}${own ? "" : ` (from ${a.team.name})`}`}
                  data-testid="scatter-point"
                  data-name={a.name}
                  onClick={(e) => {
                    e.preventDefault();
                    onOpen(a.id);
                  }}
                  onFocus={() => setActive(a.id)}
                  onBlur={() => setActive(null)}
                  onPointerEnter={() => setActive(a.id)}
                  onPointerLeave={() => setActive(null)}
                >
                  <title>{a.name}</title>
                  <circle cx={cx(p.x)} cy={cy(p.y)} r={active === a.id ? 7 : 5} className={`point ${own ? "own" : "public"}`} />
                  {labelled && (
                    <text x={cx(p.x) + 8} y={cy(p.y) + offsets[i]!} dy="0.32em" className="point-label">
                      {a.name}
                    </text>
                  )}
                </a>
              );
            })}
          </svg>
        )}
      </div>
      <p className="chart-readout small" aria-live="polite">
        {activeAdapter
          ? `${activeAdapter.name}${activeAdapter.team.id === teamId ? "" : ` from ${activeAdapter.team.name}`}: Enter or click opens it.`
          : "\u00a0"}
      </p>
    </figure>
  );
}
