"use client";
// A hand-written SVG chart of one or more series over UTC time buckets: bars (drawn in order,
// so a subset such as errors sits over its total) and lines (gaps where a value is null, e.g.
// no latency in an hour without traffic). Accessible: the SVG is an image with a title and a
// summary, the legend does not rely on colour alone (dash patterns), arrow keys step
// through buckets with a read-out, and the numbers are in a data table below.
import { useId, useState, type KeyboardEvent } from "react";
import { useElementWidth } from "@/components/ui/use-element-width";
import { bucketLabel, labelStep, tickLabel, valueAxis, type Grain } from "./chart-scale";

export interface ChartSeries {
  key: string;
  label: string;
  kind: "bar" | "line";
  color: string;
  /** SVG stroke-dasharray for lines ("" for solid). */
  dash?: string;
  values: (number | null)[];
}

interface Props {
  title: string;
  /** Bucket starts (ISO, UTC), one per value of every series. */
  starts: string[];
  grain: Grain;
  series: ChartSeries[];
  format(v: number): string;
  /** "sum": the summary gives each series' total (counts); "max": only its peak (latencies). */
  summarize: "sum" | "max";
  testId: string;
  height?: number;
}

const margin = { top: 12, right: 12, bottom: 26, left: 56 };

function summary(series: ChartSeries[], starts: string[], grain: Grain, format: (v: number) => string, mode: "sum" | "max"): string {
  const parts = series.map((s) => {
    let peak = -1;
    let total = 0;
    s.values.forEach((v, i) => {
      if (v === null) return;
      total += v;
      if (peak < 0 || v > s.values[peak]!) peak = i;
    });
    if (peak < 0) return `${s.label}: no data`;
    const peakText = `peak ${format(s.values[peak]!)} at ${bucketLabel(starts[peak]!, grain)}`;
    return mode === "sum" ? `${s.label}: total ${format(total)}, ${peakText}` : `${s.label}: ${peakText}`;
  });
  return `${starts.length} ${grain === "HOUR" ? "hourly" : "daily"} buckets. ${parts.join("; ")}.`;
}

export function TimeSeriesChart({ title, starts, grain, series, format, summarize, testId, height = 220 }: Props) {
  const [box, width] = useElementWidth<HTMLDivElement>();
  const [active, setActive] = useState<number | null>(null);
  const titleId = useId();
  const descId = useId();
  const n = starts.length;
  const innerW = Math.max(0, width - margin.left - margin.right);
  const innerH = height - margin.top - margin.bottom;
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const axis = valueAxis(Math.max(0, ...all));
  const band = n ? innerW / n : 0;
  const x = (i: number) => margin.left + i * band;
  const y = (v: number) => margin.top + innerH - (v / axis.max) * innerH;
  const step = labelStep(n, innerW);
  const description = summary(series, starts, grain, format, summarize);

  function onKey(e: KeyboardEvent) {
    if (!n) return;
    const cur = active ?? n - 1;
    if (e.key === "ArrowLeft") setActive(Math.max(0, cur - 1));
    else if (e.key === "ArrowRight") setActive(Math.min(n - 1, cur + 1));
    else if (e.key === "Home") setActive(0);
    else if (e.key === "End") setActive(n - 1);
    else return;
    e.preventDefault();
  }

  function linePath(values: (number | null)[]): string {
    let d = "";
    let pen = false;
    values.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${(x(i) + band / 2).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  }

  return (
    <figure className="chart" data-testid={testId}>
      <figcaption className="chart-head">
        <span className="strong">{title}</span>
        <ul className="legend" aria-label={`${title}: legend`}>
          {series.map((s) => (
            <li key={s.key}>
              <svg width="22" height="10" aria-hidden="true">
                {s.kind === "bar" ? (
                  <rect x="6" y="0" width="10" height="10" fill={s.color} />
                ) : (
                  <line x1="0" y1="5" x2="22" y2="5" stroke={s.color} strokeWidth="2" strokeDasharray={s.dash ?? ""} />
                )}
              </svg>
              {s.label}
            </li>
          ))}
        </ul>
      </figcaption>
      <div ref={box} className="chart-box" style={{ height }}>
        {width > 0 && (
          <svg
            width={width}
            height={height}
            role="img"
            aria-labelledby={titleId}
            aria-describedby={descId}
            tabIndex={0}
            onKeyDown={onKey}
            onFocus={() => setActive((a) => a ?? n - 1)}
            onBlur={() => setActive(null)}
            onPointerLeave={() => setActive(null)}
          >
            <title id={titleId}>{title}</title>
            <desc id={descId}>{description}</desc>
            {axis.ticks.map((t) => (
              <g key={t} className="grid">
                <line x1={margin.left} x2={width - margin.right} y1={y(t)} y2={y(t)} />
                <text x={margin.left - 6} y={y(t)} dy="0.32em" textAnchor="end">
                  {format(t)}
                </text>
              </g>
            ))}
            {starts.map((s, i) =>
              i % step === 0 ? (
                <text key={s} className="x-label" x={x(i) + band / 2} y={height - 8} textAnchor="middle">
                  {tickLabel(s, grain)}
                </text>
              ) : null,
            )}
            {active !== null && <rect className="hover-band" x={x(active)} y={margin.top} width={band} height={innerH} />}
            {series
              .filter((s) => s.kind === "bar")
              .map((s) => (
                <g key={s.key} fill={s.color}>
                  {s.values.map((v, i) =>
                    v ? (
                      <rect
                        key={i}
                        data-series={s.key}
                        data-start={starts[i]}
                        data-value={v}
                        x={x(i) + band * 0.15}
                        width={Math.max(1, band * 0.7)}
                        y={y(v)}
                        height={Math.max(1, margin.top + innerH - y(v))}
                      />
                    ) : null,
                  )}
                </g>
              ))}
            {series
              .filter((s) => s.kind === "line")
              .map((s) => (
                <g key={s.key}>
                  <path d={linePath(s.values)} fill="none" stroke={s.color} strokeWidth="2" strokeDasharray={s.dash ?? ""} strokeLinejoin="round" />
                  {s.values.map((v, i) =>
                    v !== null && (band >= 10 || active === i) ? (
                      <circle
                        key={i}
                        data-series={s.key}
                        data-start={starts[i]}
                        data-value={v}
                        cx={x(i) + band / 2}
                        cy={y(v)}
                        r={active === i ? 4 : 2.5}
                        fill={s.color}
                      />
                    ) : null,
                  )}
                </g>
              ))}
            <line className="axis" x1={margin.left} x2={width - margin.right} y1={margin.top + innerH} y2={margin.top + innerH} />
            {starts.map((s, i) => (
              <rect
                key={s}
                className="hit"
                x={x(i)}
                y={margin.top}
                width={band}
                height={innerH}
                onPointerEnter={() => setActive(i)}
                onPointerDown={() => setActive(i)}
              />
            ))}
          </svg>
        )}
      </div>
      <p className="chart-readout small" aria-live="polite">
        {active !== null && starts[active]
          ? `${bucketLabel(starts[active], grain)}: ${series.map((s) => `${s.label} ${s.values[active] === null ? "—" : format(s.values[active]!)}`).join(" · ")}`
          : "\u00a0"}
      </p>
      <details className="chart-data">
        <summary>Data table</summary>
        <div className="table-wrap">
          <table>
            <caption className="visually-hidden">{title}</caption>
            <thead>
              <tr>
                <th scope="col">Bucket</th>
                {series.map((s) => (
                  <th scope="col" key={s.key}>
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {starts.map((st, i) => (
                <tr key={st}>
                  <th scope="row">{bucketLabel(st, grain)}</th>
                  {series.map((s) => (
                    <td key={s.key}>{s.values[i] === null ? "—" : format(s.values[i]!)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
