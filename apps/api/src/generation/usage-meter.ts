// Tokens are billed before they are delivered. A generation's output goes to its client only
// up to the usage already written to the database (its record's tokensOut and its usage row):
// the meter asks for BILL_AHEAD more tokens (never past maxTokens) whenever the generation
// comes within MARGIN tokens of what is billed, so in normal operation the write is done
// before the tokens exist and nothing waits. Hence, for every generation, at every moment,
//
//     delivered <= billed <= delivered + BILL_AHEAD
//
// (billed: committed to the database; delivered: handed to the transport, counting a token
// whose text the decoder or a stop sequence still holds back, as the scheduler reports it:
// its text goes with a later token's, at most a few tokens for a character split across
// tokens), and a process
// killed at any point leaves usage that covers every token its clients received and at most
// BILL_AHEAD more; recovery ends the record with that usage. The ending writes the exact
// count. While the database is out of reach (the outbox is degraded) tokens are not held:
// streams keep streaming, and the outbox writes their usage when the database is back (a
// process that dies during the outage loses that part: see catalog/usage-ledger.ts).
export const BILL_AHEAD = 32;
/** Ask for more while the generation is this many tokens short of what is billed. */
export const MARGIN = 16;

export interface MeterOptions {
  maxTokens: number;
  /** Hands text to the clients; `tokens`: the tokens delivered with it, in all. */
  deliver: (text: string, tokens: number) => void;
  /** Writes usage up to `tokensOut` (and the prompt); true once committed, false when it cannot wait (outage). */
  bill: (tokensOut: number, generated: number) => Promise<boolean>;
  /** Whether billing is suspended (database out of reach): deliver without waiting. */
  unmetered: () => boolean;
}

export class UsageMeter {
  private generated = 0;
  private delivered = 0;
  private billed = 0;
  private asking = false;
  private ended = false;
  private readonly held: { text: string; upTo: number }[] = [];

  constructor(private readonly o: MeterOptions) {}

  /** The generation started (prefill): bill the first tokens ahead now. */
  start(): void {
    this.ask();
  }

  /** Output: a sampled token's text (maybe "" while the decoder holds it), or closing text with `tokens` 0. */
  push(text: string, tokens: number): void {
    this.generated += tokens;
    if (this.ended) {
      this.delivered = this.generated;
      if (text) this.o.deliver(text, this.delivered);
      return;
    }
    this.held.push({ text, upTo: this.generated });
    this.release(false);
    this.ask();
  }

  /** The generation ended and its exact usage is written (or queued): deliver the rest. */
  end(): void {
    this.ended = true;
    this.release(true);
  }

  /** Tokens billed (committed) so far, tokens delivered so far. */
  get state(): { generated: number; delivered: number; billed: number } {
    return { generated: this.generated, delivered: this.delivered, billed: this.billed };
  }

  private release(all: boolean): void {
    const free = all || this.o.unmetered();
    while (this.held.length && (free || this.held[0]!.upTo <= this.billed)) {
      const h = this.held.shift()!;
      this.delivered = h.upTo;
      if (h.text) this.o.deliver(h.text, this.delivered);
    }
  }

  private ask(): void {
    if (this.asking || this.ended || this.billed >= this.o.maxTokens || this.generated + MARGIN <= this.billed) return;
    const target = Math.min(this.o.maxTokens, this.delivered + BILL_AHEAD);
    if (target <= this.billed) return;
    this.asking = true;
    this.o.bill(target, this.generated).then(
      (ok) => {
        this.asking = false;
        if (ok) {
          this.billed = Math.max(this.billed, target);
          this.release(false);
          this.ask();
        } else {
          // Not written now (outage, or a write that failed): the stream does not wait; the
          // next token asks again (the outbox keeps the newest).
          this.release(true);
        }
      },
      () => {
        this.asking = false;
        this.release(true);
      },
    );
  }
}
