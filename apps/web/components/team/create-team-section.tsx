"use client";
// Creating a team (owned by its creator, with the server's default quotas). The server may
// turn self-service creation off (administrators always may) or limit how fast requests come:
// the API's refusal shows under the form, with the wait when there is one. The new team joins
// the team switcher; "Switch to it" makes it the active team.
import { useId, useState, type FormEvent } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { useApi } from "@/components/api/provider";
import { useTeam } from "@/components/shell/team-context";
import { InlineError } from "@/components/ui/states";

const CREATE_TEAM = /* GraphQL */ `
  mutation CreateTeam($name: String!, $slug: String!) {
    createTeam(name: $name, slug: $slug) {
      id
      name
      slug
    }
  }
`;

/** The API's rule for slugs. */
const SLUG = /^[a-z0-9][a-z0-9-]{1,48}[a-z0-9]$/;

/** A slug from a name: "Research & Dev" -> "research-dev". */
export function slugOf(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50)
    .replace(/-+$/, "");
}

export function CreateTeamSection() {
  const id = useId();
  const { me, refresh } = useTeam();
  const { setTeam } = useApi();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [slugEdited, setSlugEdited] = useState(false);
  const [attempted, setAttempted] = useState(false);
  const [created, setCreated] = useState<{ id: string; name: string } | null>(null);
  const create = useMutation<{ createTeam: { id: string; name: string; slug: string } }>(CREATE_TEAM);
  const shownSlug = slugEdited ? slug : slugOf(name);
  const slugProblem = attempted && !SLUG.test(shownSlug) ? "3–50 lowercase letters, digits and dashes, starting and ending with a letter or digit." : undefined;
  const nameProblem = attempted && !name.trim() ? "Give the team a name." : undefined;
  const apiSlug = create.error?.argument === "slug" || create.error?.code === "CONFLICT" ? create.error : undefined;
  const joined = created && me.memberships.some((m) => m.team.id === created.id);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setAttempted(true);
    if (!name.trim() || !SLUG.test(shownSlug)) return;
    const r = await create.run({ name: name.trim(), slug: shownSlug });
    if (!r) return;
    setCreated(r.createTeam);
    setName("");
    setSlug("");
    setSlugEdited(false);
    setAttempted(false);
    setOpen(false);
    refresh();
  }

  return (
    <section aria-labelledby={`${id}-title`} className="section" data-testid="create-team">
      <div className="toolbar between">
        <h2 id={`${id}-title`}>Other teams</h2>
        {!open && (
          <button type="button" className="secondary" onClick={() => setOpen(true)}>
            Create a team
          </button>
        )}
      </div>
      {created && (
        <p className="notice" role="status" data-testid="team-created">
          Created {created.name}.{" "}
          {joined ? (
            <button type="button" className="link" onClick={() => setTeam(created.id)}>
              Switch to it
            </button>
          ) : (
            "It appears in the team switcher in a moment."
          )}
        </p>
      )}
      {open && (
        <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label="Create a team" noValidate>
          <div className="field grow">
            <label htmlFor={`${id}-name`}>Name</label>
            <input
              id={`${id}-name`}
              value={name}
              maxLength={100}
              onChange={(e) => {
                setName(e.target.value);
                create.reset();
              }}
              aria-invalid={nameProblem ? true : undefined}
              aria-describedby={nameProblem ? `${id}-name-error` : undefined}
            />
            {nameProblem && (
              <span className="error" id={`${id}-name-error`} role="alert">
                {nameProblem}
              </span>
            )}
          </div>
          <div className="field">
            <label htmlFor={`${id}-slug`}>Short name</label>
            <input
              id={`${id}-slug`}
              className="mono"
              value={shownSlug}
              spellCheck={false}
              autoComplete="off"
              onChange={(e) => {
                setSlug(e.target.value);
                setSlugEdited(true);
                create.reset();
              }}
              aria-invalid={slugProblem || apiSlug ? true : undefined}
              aria-describedby={slugProblem || apiSlug ? `${id}-slug-error` : undefined}
            />
            {slugProblem ? (
              <span className="error" id={`${id}-slug-error`} role="alert">
                {slugProblem}
              </span>
            ) : (
              <InlineError error={apiSlug} id={`${id}-slug-error`} />
            )}
          </div>
          <div className="field">
            <button type="submit" disabled={create.busy}>
              {create.busy ? "Creating…" : "Create team"}
            </button>
          </div>
          <div className="field">
            <button type="button" className="secondary" onClick={() => setOpen(false)} disabled={create.busy}>
              Cancel
            </button>
          </div>
          {!apiSlug && <InlineError error={create.error} />}
        </form>
      )}
    </section>
  );
}
