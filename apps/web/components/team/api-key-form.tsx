"use client";
// Creates an API key with a name, a role (at most the caller's) and an optional expiry. The
// secret comes back once and is shown once; dismissing the panel forgets it.
import { useState, type FormEvent } from "react";
import { useMutation } from "@/components/api/use-mutation";
import type { Role } from "@/components/auth/permissions";
import { OneTimeSecret } from "@/components/ui/one-time-secret";
import { InlineError } from "@/components/ui/states";
import { defaultRole, RoleSelect } from "./role-select";

const CREATE = /* GraphQL */ `
  mutation CreateApiKey($teamId: ID!, $name: String!, $role: Role!, $expiresAt: DateTime) {
    createApiKey(teamId: $teamId, name: $name, role: $role, expiresAt: $expiresAt) {
      secret
      apiKey {
        id
        name
        prefix
        role
      }
    }
  }
`;

interface Created {
  createApiKey: { secret: string; apiKey: { id: string; name: string; prefix: string; role: Role } };
}

type Expiry = "never" | "7" | "30" | "90" | "date";

/** The expiry as an ISO time: N days from now, or the end of the chosen local day. */
function expiresAt(expiry: Expiry, date: string): string | null {
  if (expiry === "never") return null;
  if (expiry === "date") return date ? new Date(`${date}T23:59:59`).toISOString() : null;
  return new Date(Date.now() + Number(expiry) * 86_400_000).toISOString();
}

function tomorrow(): string {
  const d = new Date(Date.now() + 86_400_000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export function ApiKeyForm({ teamId, myRole, onCreated }: { teamId: string; myRole: Role; onCreated(): void }) {
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>(defaultRole(myRole));
  const [expiry, setExpiry] = useState<Expiry>("never");
  const [date, setDate] = useState("");
  const [created, setCreated] = useState<Created["createApiKey"] | null>(null);
  const create = useMutation<Created>(CREATE);
  const nameError = create.error?.argument === "name" ? create.error : undefined;
  const expiryError = create.error?.argument === "expiresAt" ? create.error : undefined;
  const formError = create.error && !nameError && !expiryError ? create.error : undefined;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const r = await create.run({ teamId, name, role, expiresAt: expiresAt(expiry, date) });
    if (!r) return;
    setCreated(r.createApiKey);
    setName("");
    setExpiry("never");
    setDate("");
    onCreated();
  }

  if (created) {
    return (
      <OneTimeSecret title={`API key “${created.apiKey.name}” created`} value={created.secret} onDismiss={() => setCreated(null)} testId="api-key-secret">
        <p className="muted">
          Send it as <code>Authorization: Bearer &lt;key&gt;</code>. It acts in this team as {created.apiKey.role.toLowerCase()}; the list below shows it by its
          prefix <code>{created.apiKey.prefix}</code>.
        </p>
      </OneTimeSecret>
    );
  }

  return (
    <form className="inline-form" onSubmit={submit} aria-label="Create an API key">
      <div className="field grow">
        <label htmlFor="key-name">Name</label>
        <input
          id="key-name"
          required
          maxLength={100}
          autoComplete="off"
          value={name}
          aria-invalid={!!nameError}
          aria-describedby={nameError ? "key-name-error" : undefined}
          onChange={(e) => setName(e.target.value)}
        />
        <InlineError error={nameError} id="key-name-error" />
      </div>
      <div className="field">
        <label htmlFor="key-role">Role</label>
        <RoleSelect id="key-role" myRole={myRole} value={role} onChange={setRole} />
      </div>
      <div className="field">
        <label htmlFor="key-expiry">Expires</label>
        <select id="key-expiry" value={expiry} onChange={(e) => setExpiry(e.target.value as Expiry)}>
          <option value="never">Never</option>
          <option value="7">In 7 days</option>
          <option value="30">In 30 days</option>
          <option value="90">In 90 days</option>
          <option value="date">On a date…</option>
        </select>
      </div>
      {expiry === "date" && (
        <div className="field">
          <label htmlFor="key-expiry-date">Expiry date</label>
          <input
            id="key-expiry-date"
            type="date"
            required
            min={tomorrow()}
            value={date}
            aria-invalid={!!expiryError}
            aria-describedby={expiryError ? "key-expiry-error" : undefined}
            onChange={(e) => setDate(e.target.value)}
          />
        </div>
      )}
      <div className="field">
        <button type="submit" disabled={create.busy}>
          {create.busy ? "Creating…" : "Create key"}
        </button>
      </div>
      <InlineError error={expiryError} id="key-expiry-error" />
      <InlineError error={formError} />
    </form>
  );
}
