// What is wrong with this process right now, by component, for /healthz: the engine failing
// its steps, the database out of reach, a shutdown under way. Each part reports its own
// problem and clears it when it recovers; /healthz answers 503 with the reasons while any
// problem stands.
export type HealthComponent = "engine" | "database" | "shutdown";

export class HealthState {
  private readonly problems = new Map<HealthComponent, { reason: string; since: Date }>();

  degrade(component: HealthComponent, reason: string): void {
    if (!this.problems.has(component)) this.problems.set(component, { reason, since: new Date() });
    else this.problems.get(component)!.reason = reason;
  }

  recover(component: HealthComponent): void {
    this.problems.delete(component);
  }

  problem(component: HealthComponent): string | undefined {
    return this.problems.get(component)?.reason;
  }

  get degraded(): boolean {
    return this.problems.size > 0;
  }

  /** The standing problems, for /healthz. */
  report(): { component: HealthComponent; reason: string; since: string }[] {
    return [...this.problems].map(([component, p]) => ({ component, reason: p.reason, since: p.since.toISOString() }));
  }
}
