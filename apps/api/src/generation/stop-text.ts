// Streams generated text while honouring stop sequences that may arrive split across tokens:
// text that could still begin a stop sequence is held back until it cannot.
export class StopText {
  private full = "";
  private emitted = 0;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds decoded text; returns what may be sent now, and whether a stop sequence was hit. */
  push(delta: string): { text: string; stopped: boolean } {
    this.full += delta;
    for (const s of this.stops) {
      const from = Math.max(0, this.emitted - s.length);
      const at = this.full.indexOf(s, from);
      if (at >= 0 && at + s.length > this.emitted) {
        const text = this.full.slice(this.emitted, Math.max(at, this.emitted));
        this.emitted = this.full.length;
        return { text, stopped: true };
      }
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.full.length - this.emitted); n > hold; n--) {
        if (this.full.endsWith(s.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    const end = this.full.length - hold;
    const text = this.full.slice(this.emitted, end);
    this.emitted = end;
    return { text, stopped: false };
  }

  /** What is left when generation ends without a stop sequence. */
  flush(): string {
    const text = this.full.slice(this.emitted);
    this.emitted = this.full.length;
    return text;
  }
}
