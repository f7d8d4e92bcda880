import { infoNceLoss } from "./infonce.js";
import { initHead, type HeadParameters } from "./head-model.js";
import { Rng } from "./rng.js";

function fixture(seed: number): { p: HeadParameters; x: Float64Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const d = 6;
  const p = initHead(d, 3, seed);
  for (let i = 0; i < p.b.length; i++) p.b[i] = rng.normal() * 0.3; // off the identity
  for (let i = 0; i < p.c.length; i++) p.c[i] = rng.normal() * 0.1;
  for (let i = 0; i < p.s.length; i++) p.s[i] = 1 + rng.normal() * 0.2;
  const labels = Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2, 2]);
  const x = new Float64Array(labels.length * d);
  for (let i = 0; i < labels.length; i++) {
    let n = 0;
    for (let j = 0; j < d; j++) n += (x[i * d + j] = rng.normal() + labels[i]! * (j === labels[i] ? 1 : 0)) ** 2;
    for (let j = 0; j < d; j++) x[i * d + j]! /= Math.sqrt(n);
  }
  return { p, x, labels };
}

describe("infoNceLoss", () => {
  test("gradients match central finite differences (relative 1e-5)", () => {
    const { p, x, labels } = fixture(3);
    const [tau, wd] = [0.2, 0.01];
    const { gradA, gradB, gradC, gradS } = infoNceLoss(p, x, labels, 3, tau, wd);
    const eps = 1e-6;
    for (const [param, grad] of [
      [p.a, gradA],
      [p.b, gradB],
      [p.c, gradC],
      [p.s, gradS],
    ] as const) {
      for (let q = 0; q < param.length; q++) {
        const keep = param[q]!;
        param[q] = keep + eps;
        const up = infoNceLoss(p, x, labels, 3, tau, wd).loss;
        param[q] = keep - eps;
        const down = infoNceLoss(p, x, labels, 3, tau, wd).loss;
        param[q] = keep;
        const numeric = (up - down) / (2 * eps);
        expect(Math.abs(numeric - grad[q]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(numeric)));
      }
    }
  });

  test("at the identity head (B = 0) the loss is that of the frozen encoder and A gets no gradient", () => {
    const { x, labels } = fixture(5);
    const p = initHead(6, 3, 5);
    const r = infoNceLoss(p, x, labels, 3, 0.1, 0);
    expect(r.gradA.every((v) => v === 0)).toBe(true);
    expect(r.gradB.some((v) => v !== 0)).toBe(true);
    expect(r.loss).toBeGreaterThan(0);
  });
});
