"use client";
// The signed-in user and the active team with the caller's role in it (`team(id) {
// viewerRole }`), for the pages inside the shell. `refresh()` reads both again, e.g. after
// the user changed their own role or left the team.
import { createContext, useContext } from "react";
import type { Role } from "@/components/auth/permissions";

export interface Membership {
  role: Role;
  team: { id: string; name: string };
}

export interface Me {
  id: string;
  email: string;
  /** A server administrator (server settings, every team's quotas). */
  isAdmin: boolean;
  memberships: Membership[];
}

export interface ActiveTeam {
  id: string;
  name: string;
  slug: string;
  viewerRole: Role;
  /** What the caller may do here, from the API's policy module. */
  viewerPermissions: string[];
}

export interface TeamState {
  me: Me;
  team: ActiveTeam;
  refresh(): void;
}

export const TeamContext = createContext<TeamState | null>(null);

export function useTeam(): TeamState {
  const ctx = useContext(TeamContext);
  if (!ctx) throw new Error("useTeam outside the app shell");
  return ctx;
}
