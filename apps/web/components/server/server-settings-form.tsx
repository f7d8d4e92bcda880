"use client";
// The server settings form: the default quotas of new teams, the maximum of any team, and
// self-service team creation. Checked before saving (numbers, each default within its
// maximum); the API's refusal of one quota shows beside it, any other under the form.
// Lowering a maximum lowers every team quota above it (the API does it in the same save).
import { useId, useRef, useState, type FormEvent } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { formatDateTime } from "@/components/ui/format";
import { InlineError } from "@/components/ui/states";
import { QuotaInputs } from "./quota-inputs";
import { SaveRow } from "./save-row";
import { aboveCaps, formatQuota, parseDraft, quotaArgument, toDraft, type QuotaDraft, type QuotaErrors, type QuotaKey } from "./quotas";
import { UPDATE_SERVER_SETTINGS, type ServerSettings } from "./server-settings-query";

type Group = "defaultQuotas" | "maxQuotas";

export function ServerSettingsForm({ settings, onSaved }: { settings: ServerSettings; onSaved(s: ServerSettings): void }) {
  const id = useId();
  const form = useRef<HTMLFormElement>(null);
  const [drafts, setDrafts] = useState<Record<Group, QuotaDraft>>(() => ({
    defaultQuotas: toDraft(settings.defaultQuotas),
    maxQuotas: toDraft(settings.maxQuotas),
  }));
  const [teamCreation, setTeamCreation] = useState(settings.teamCreation);
  const [errors, setErrors] = useState<Record<Group, QuotaErrors>>({ defaultQuotas: {}, maxQuotas: {} });
  const [saved, setSaved] = useState(false);
  const update = useMutation<{ updateServerSettings: ServerSettings }>(UPDATE_SERVER_SETTINGS);
  const apiQuota = update.error?.code === "BAD_USER_INPUT" ? quotaArgument(update.error.argument) : undefined;

  function edit(group: Group, key: QuotaKey, text: string) {
    setDrafts((d) => ({ ...d, [group]: { ...d[group], [key]: text } }));
    setErrors((e) => ({ ...e, [group]: { ...e[group], [key]: undefined } }));
    setSaved(false);
    update.reset();
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    const defaults = parseDraft(drafts.defaultQuotas);
    const max = parseDraft(drafts.maxQuotas);
    const next = { defaultQuotas: { ...aboveCaps(defaults.values, max.values, "for any team"), ...defaults.errors }, maxQuotas: max.errors };
    // A default is only compared with a maximum that was typed correctly.
    for (const k of Object.keys(max.errors) as QuotaKey[]) if (!defaults.errors[k]) delete next.defaultQuotas[k];
    setErrors(next);
    if (Object.keys(next.defaultQuotas).length || Object.keys(next.maxQuotas).length) {
      requestAnimationFrame(() => form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    const r = await update.run({ input: { defaultQuotas: defaults.values, maxQuotas: max.values, teamCreation } });
    if (!r) return;
    setDrafts({ defaultQuotas: toDraft(r.updateServerSettings.defaultQuotas), maxQuotas: toDraft(r.updateServerSettings.maxQuotas) });
    setSaved(true);
    onSaved(r.updateServerSettings);
  }

  const shown = (group: Group): QuotaErrors => (apiQuota?.group === group ? { ...errors[group], [apiQuota.key]: update.error!.message } : errors[group]);

  return (
    <form
      ref={form}
      className="panel stack section"
      aria-labelledby={`${id}-title`}
      onSubmit={(e) => void submit(e)}
      noValidate
      data-testid="server-settings-form"
    >
      <div className="toolbar between-top">
        <h2 id={`${id}-title`}>Quotas and team creation</h2>
        <span className="muted small" data-testid="settings-saved-at">
          {settings.updatedAt ? `Last saved ${formatDateTime(settings.updatedAt)}` : "The server's environment settings apply until you save."}
        </span>
      </div>
      <div className="quota-groups">
        <QuotaInputs
          id="default-quotas"
          legend="Default quotas of a new team"
          draft={drafts.defaultQuotas}
          errors={shown("defaultQuotas")}
          onChange={(k, t) => edit("defaultQuotas", k, t)}
          disabled={update.busy}
        />
        <QuotaInputs
          id="max-quotas"
          legend="Maximum quotas of any team"
          draft={drafts.maxQuotas}
          errors={shown("maxQuotas")}
          onChange={(k, t) => edit("maxQuotas", k, t)}
          disabled={update.busy}
          note={(k) => (settings.maxQuotas[k] !== null ? `Now ${formatQuota(k, settings.maxQuotas[k])}.` : undefined)}
        />
      </div>
      <p className="muted small">Lowering a maximum also lowers every team quota above it, when you save.</p>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={teamCreation}
          disabled={update.busy}
          onChange={(e) => {
            setTeamCreation(e.target.checked);
            setSaved(false);
          }}
        />{" "}
        Any signed-in user may create teams (administrators always may)
      </label>
      {!apiQuota && <InlineError error={update.error} />}
      <SaveRow busy={update.busy} saved={saved} label="Save settings" testId="settings-status" />
    </form>
  );
}
