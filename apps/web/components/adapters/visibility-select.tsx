"use client";
// An adapter's visibility. PUBLIC lists the adapter in the catalogue of public adapters, from
// which other teams' admins add it to their pools; publishing needs adapter.publish (ADMIN
// and above), so the option is disabled, with a note why, for the roles without it.
import type { Visibility } from "./adapter-view";

export const visibilityLabels: Record<Visibility, string> = {
  PRIVATE: "Private: this team only",
  PUBLIC: "Public: listed in the catalogue; teams that add it may retrieve it",
};

interface Props {
  id: string;
  value: Visibility;
  onChange(v: Visibility): void;
  /** Whether the caller may publish (the team's viewerPermissions include adapter.publish). */
  mayPublish: boolean;
  disabled?: boolean;
}

export function VisibilitySelect({ id, value, onChange, mayPublish, disabled }: Props) {
  return (
    <>
      <select
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value as Visibility)}
        disabled={disabled}
        aria-describedby={mayPublish ? undefined : `${id}-note`}
      >
        <option value="PRIVATE">{visibilityLabels.PRIVATE}</option>
        <option value="PUBLIC" disabled={!mayPublish}>
          {visibilityLabels.PUBLIC}
        </option>
      </select>
      {!mayPublish && (
        <span className="muted small" id={`${id}-note`} data-testid="publish-note">
          Publishing an adapter needs the Admin role or above.
        </span>
      )}
    </>
  );
}
