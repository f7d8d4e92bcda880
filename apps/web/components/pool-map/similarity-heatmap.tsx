"use client";
// The pool's similarity matrix as a hand-written SVG heatmap, rows and columns in the API's
// clustering order, so related adapters form blocks along the diagonal (the paper's figure
// 3). Pointer: hovering a cell reads it out, clicking opens the row's adapter. Keyboard: the
// map is focusable, arrow keys move across cells, Enter opens the row's adapter. Past 100
// adapters, cells average square blocks of adapters so that the map stays light.
import { useId, useState, type KeyboardEvent } from "react";
import { useElementWidth } from "@/components/ui/use-element-width";
import { colorOf, isDark, lowEnd } from "./color-scale";
import type { MapAdapter } from "./pool-map-query";

const MAX_CELLS = 100;

interface Props {
  adapters: MapAdapter[];
  similarity: number[][];
  onOpen(adapterId: string): void;
}

export function SimilarityHeatmap({ adapters, similarity, onOpen }: Props) {
  const [box, width] = useElementWidth<HTMLDivElement>();
  const [active, setActive] = useState<[number, number] | null>(null);
  const titleId = useId();
  const descId = useId();
  const n = adapters.length;
  const block = Math.max(1, Math.ceil(n / MAX_CELLS));
  const m = Math.ceil(n / block);
  const cells = blocks(similarity, n, block, m);
  const min = lowEnd(similarity);

  const labelWidth = block === 1 ? Math.min(150, Math.max(70, Math.round(width * 0.28))) : 0;
  const side = Math.max(0, Math.min(width - labelWidth - 4, 760));
  const cell = m ? side / m : 0;
  const showLabels = block === 1 && cell >= 9;
  const left = showLabels ? labelWidth : 0;
  const height = side + 4;

  const range = (b: number) => [b * block, Math.min(n, (b + 1) * block) - 1] as const;
  const label = (b: number) => {
    const [a, z] = range(b);
    return a === z ? adapters[a]!.name : `${adapters[a]!.name} … ${adapters[z]!.name} (${z - a + 1})`;
  };
  const readout = active
    ? `${label(active[0])} × ${label(active[1])}: ${block === 1 ? "similarity" : "mean similarity"} ${cells[active[0]]![active[1]]!.toFixed(3)}. Enter or click opens ${adapters[range(active[0])[0]]!.name}.`
    : "\u00a0";

  function open(row: number) {
    onOpen(adapters[range(row)[0]]!.id);
  }

  function onKey(e: KeyboardEvent) {
    if (!m) return;
    const [r, c] = active ?? [0, 0];
    const moves: Record<string, [number, number]> = {
      ArrowUp: [Math.max(0, r - 1), c],
      ArrowDown: [Math.min(m - 1, r + 1), c],
      ArrowLeft: [r, Math.max(0, c - 1)],
      ArrowRight: [r, Math.min(m - 1, c + 1)],
      Home: [r, 0],
      End: [r, m - 1],
    };
    if (moves[e.key]) setActive(moves[e.key]!);
    else if (e.key === "Enter" || e.key === " ") open(r);
    else return;
    e.preventDefault();
  }

  return (
    <figure className="chart heatmap" data-testid="heatmap">
      <figcaption className="chart-head">
        <span className="strong">Similarity of the adapters&apos; embeddings</span>
        <span className="legend heat-legend" aria-hidden="true">
          <span>{min.toFixed(1)}</span>
          <span
            className="gradient"
            style={{ background: `linear-gradient(to right, ${colorOf(min, min, 1)}, ${colorOf((min + 1) / 2, min, 1)}, ${colorOf(1, min, 1)})` }}
          />
          <span>1.0</span>
        </span>
      </figcaption>
      <div ref={box} className="chart-box">
        {width > 0 && (
          <svg
            width={left + side + 4}
            height={height}
            role="img"
            aria-labelledby={titleId}
            aria-describedby={descId}
            tabIndex={0}
            onKeyDown={onKey}
            onFocus={() => setActive((a) => a ?? [0, 0])}
            onBlur={() => setActive(null)}
            onPointerLeave={() => setActive(null)}
          >
            <title id={titleId}>Cosine similarity of {n} adapters, in clustering order</title>
            <desc id={descId}>
              {`Rows and columns are the adapters in the same order${block > 1 ? `, ${block} per cell` : ""}; related adapters form dark blocks along the diagonal. Arrow keys move between cells; Enter opens the row's adapter.`}
            </desc>
            {showLabels &&
              adapters.map((a, i) => (
                <text key={a.id} className="row-label" x={left - 6} y={2 + (i + 0.5) * cell} dy="0.32em" textAnchor="end" fontSize={Math.min(12, cell * 0.8)}>
                  {a.name.length > 22 ? `${a.name.slice(0, 21)}…` : a.name}
                </text>
              ))}
            <g transform={`translate(${left},2)`}>
              {cells.map((row, i) =>
                row.map((v, j) => (
                  <rect
                    key={`${i}-${j}`}
                    x={j * cell}
                    y={i * cell}
                    width={cell + 0.5}
                    height={cell + 0.5}
                    fill={colorOf(v, min, 1)}
                    data-row={i}
                    data-col={j}
                    onPointerEnter={() => setActive([i, j])}
                    onClick={() => open(i)}
                  />
                )),
              )}
              {cell >= 34 &&
                cells.map((row, i) =>
                  row.map((v, j) => (
                    <text
                      key={`t${i}-${j}`}
                      className={`cell-value${isDark(v, min, 1) ? " on-dark" : ""}`}
                      x={(j + 0.5) * cell}
                      y={(i + 0.5) * cell}
                      dy="0.32em"
                      textAnchor="middle"
                    >
                      {v.toFixed(2)}
                    </text>
                  )),
                )}
              {active && (
                <>
                  <rect className="heat-band" x={0.5} y={active[0] * cell + 0.5} width={side - 1} height={cell - 1} />
                  <rect className="heat-band" x={active[1] * cell + 0.5} y={0.5} width={cell - 1} height={side - 1} />
                  <rect className="heat-active" x={active[1] * cell} y={active[0] * cell} width={cell} height={cell} />
                </>
              )}
            </g>
          </svg>
        )}
      </div>
      <p className="chart-readout small" aria-live="polite" data-testid="heatmap-readout">
        {readout}
      </p>
    </figure>
  );
}

/** The (m, m) matrix of block means, block × block adapters per cell. */
function blocks(similarity: number[][], n: number, block: number, m: number): number[][] {
  if (block === 1) return similarity;
  const out: number[][] = [];
  for (let bi = 0; bi < m; bi++) {
    const row: number[] = [];
    for (let bj = 0; bj < m; bj++) {
      let sum = 0;
      let count = 0;
      for (let i = bi * block; i < Math.min(n, (bi + 1) * block); i++)
        for (let j = bj * block; j < Math.min(n, (bj + 1) * block); j++) {
          sum += similarity[i]![j]!;
          count++;
        }
      row.push(sum / count);
    }
    out.push(row);
  }
  return out;
}
