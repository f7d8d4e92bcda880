"use client";
// One team's quotas, edited by a server administrator (setTeamQuotas; a team's own owner
// cannot): the four quotas (empty: unlimited), each checked against the server's maximum
// before saving; the API's refusal of one shows beside it.
import { useRef, useState, type FormEvent } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { useQuery } from "@/components/api/use-query";
import { ErrorState, InlineError, LoadingState } from "@/components/ui/states";
import { QuotaInputs } from "./quota-inputs";
import { SaveRow } from "./save-row";
import { aboveCaps, formatQuota, parseDraft, quotaArgument, toDraft, type QuotaDraft, type QuotaErrors, type Quotas } from "./quotas";
import { SET_TEAM_QUOTAS, TEAM_QUOTAS, type TeamQuotasView } from "./server-settings-query";

/** `caps`: the server's maximum quotas (null: not known here, the API still checks). */
export function TeamQuotasEditor({ teamId, caps, onSaved }: { teamId: string; caps: Quotas | null; onSaved?(): void }) {
  const q = useQuery<{ team: TeamQuotasView | null }>(TEAM_QUOTAS, { id: teamId });
  const team = q.data?.team;
  if (q.error) return <ErrorState error={q.error} what="the team's quotas" onRetry={q.reload} />;
  if (!q.data) return <LoadingState label="Loading the team's quotas…" />;
  if (!team) return <p className="muted">No such team.</p>;
  return <QuotasForm key={JSON.stringify(team.quotas)} team={team} caps={caps} onSaved={onSaved} />;
}

function QuotasForm({ team, caps, onSaved }: { team: TeamQuotasView; caps: Quotas | null; onSaved?(): void }) {
  const form = useRef<HTMLFormElement>(null);
  const [draft, setDraft] = useState<QuotaDraft>(() => toDraft(team.quotas));
  const [errors, setErrors] = useState<QuotaErrors>({});
  const [saved, setSaved] = useState(false);
  const save = useMutation<{ setTeamQuotas: TeamQuotasView }>(SET_TEAM_QUOTAS);
  const apiQuota = save.error?.code === "BAD_USER_INPUT" ? quotaArgument(save.error.argument) : undefined;
  const shown = apiQuota ? { ...errors, [apiQuota.key]: save.error!.message } : errors;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const parsed = parseDraft(draft);
    const next = { ...(caps ? aboveCaps(parsed.values, caps, "for any team") : {}), ...parsed.errors };
    setErrors(next);
    if (Object.keys(next).length) {
      requestAnimationFrame(() => form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    const r = await save.run({ teamId: team.id, quotas: parsed.values });
    if (!r) return;
    setDraft(toDraft(r.setTeamQuotas.quotas));
    setSaved(true);
    onSaved?.();
  }

  return (
    <form ref={form} className="stack" aria-label={`Quotas of ${team.name}`} onSubmit={(e) => void submit(e)} noValidate data-testid="team-quotas-form">
      <QuotaInputs
        id={`team-quotas-${team.id}`}
        legend={`Quotas of ${team.name}`}
        draft={draft}
        errors={shown}
        onChange={(k, text) => {
          setDraft((d) => ({ ...d, [k]: text }));
          setErrors((x) => ({ ...x, [k]: undefined }));
          setSaved(false);
          save.reset();
        }}
        disabled={save.busy}
        note={(k) => (caps && caps[k] !== null ? `At most ${formatQuota(k, caps[k])}.` : undefined)}
      />
      {!apiQuota && <InlineError error={save.error} />}
      <SaveRow busy={save.busy} saved={saved} label="Save quotas" testId="team-quotas-status" />
    </form>
  );
}
