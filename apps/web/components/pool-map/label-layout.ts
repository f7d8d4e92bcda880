// Places the scatter's point labels so that they do not overlap: each label goes to the
// right of its point, moved up or down by whole lines when an earlier label is in the way
// (greedy, points taken from top to bottom). Widths are estimated from the text length.

export interface LabelBox {
  x: number;
  y: number;
  text: string;
}

const LINE = 12;
const CHAR = 6.5;
const shifts = [0, 1, -1, 2, -2, 3, -3];

/** The vertical offset (px) of each label, in the order given. */
export function labelOffsets(labels: LabelBox[]): number[] {
  const placed: { x0: number; x1: number; y0: number; y1: number }[] = [];
  const offsets = new Array<number>(labels.length).fill(0);
  const order = labels.map((_, i) => i).sort((a, b) => labels[a]!.y - labels[b]!.y);
  for (const i of order) {
    const l = labels[i]!;
    const x0 = l.x + 8;
    const x1 = x0 + l.text.length * CHAR;
    const dy =
      shifts.map((s) => s * LINE).find((d) => !placed.some((p) => p.x0 < x1 && x0 < p.x1 && p.y0 < l.y + d + LINE / 2 && l.y + d - LINE / 2 < p.y1)) ?? 0;
    offsets[i] = dy;
    placed.push({ x0, x1, y0: l.y + dy - LINE / 2, y1: l.y + dy + LINE / 2 });
  }
  return offsets;
}
