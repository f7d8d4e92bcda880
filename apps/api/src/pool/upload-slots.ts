// How many adapter uploads may be in progress at once: per team and on the whole server
// (QUIVER_UPLOADS_PER_TEAM, QUIVER_UPLOADS_PER_SERVER). An upload takes a slot once its team
// is known and authorized, before any byte of it is stored, and gives it back when it ends,
// however it ends. Past either limit it is refused with RATE_LIMITED and a retry delay.
// In-process counts: each server process has its own.
import { QuiverError } from "../errors.js";

/** Seconds a refused upload is told to wait (the Retry-After header, details.retryAfterSeconds). */
export const UPLOAD_RETRY_AFTER_SECONDS = 5;

export interface UploadSlot {
  /** Gives the slot back; later calls do nothing. */
  release(): void;
}

export class UploadSlots {
  private total = 0;
  private readonly byTeam = new Map<string, number>();

  constructor(
    readonly perTeam: number,
    readonly perServer: number,
    readonly retryAfterSeconds = UPLOAD_RETRY_AFTER_SECONDS,
  ) {}

  /** Takes a slot for `teamId`, or throws RATE_LIMITED when the team or the server is at its limit. */
  acquire(teamId: string): UploadSlot {
    const team = this.byTeam.get(teamId) ?? 0;
    if (team >= this.perTeam)
      throw this.refusal(
        "team",
        this.perTeam,
        `This team already has ${team} adapter upload${team === 1 ? "" : "s"} in progress (at most ${this.perTeam} at once).`,
      );
    if (this.total >= this.perServer)
      throw this.refusal("server", this.perServer, `The server is receiving ${this.total} adapter uploads already (at most ${this.perServer} at once).`);
    this.byTeam.set(teamId, team + 1);
    this.total++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.byTeam.get(teamId) ?? 1) - 1;
        if (left > 0) this.byTeam.set(teamId, left);
        else this.byTeam.delete(teamId);
      },
    };
  }

  /** Uploads in progress: of one team, or on the whole server. */
  inUse(teamId?: string): number {
    return teamId === undefined ? this.total : (this.byTeam.get(teamId) ?? 0);
  }

  private refusal(scope: "team" | "server", limit: number, message: string): QuiverError {
    return new QuiverError("RATE_LIMITED", `${message} Try again in ${this.retryAfterSeconds} s.`, {
      hint: "Wait for an upload in progress to finish, then send this one again.",
      details: { retryAfterSeconds: this.retryAfterSeconds, scope, limit },
    });
  }
}
