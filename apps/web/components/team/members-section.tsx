"use client";
// The team's members with their roles, highest role first.
import { useQuery } from "@/components/api/use-query";
import { roles } from "@/components/auth/permissions";
import { useTeam } from "@/components/shell/team-context";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { MemberRow, type MemberView } from "./member-row";

const MEMBERS = /* GraphQL */ `
  query TeamMembers($id: ID!) {
    team(id: $id) {
      id
      members {
        role
        joinedAt
        user {
          id
          email
          name
        }
      }
    }
  }
`;

export function MembersSection() {
  const { me, team, refresh } = useTeam();
  const q = useQuery<{ team: { members: MemberView[] } | null }>(MEMBERS, { id: team.id });
  const members = [...(q.data?.team?.members ?? [])].sort((a, b) => roles.indexOf(a.role) - roles.indexOf(b.role) || a.user.email.localeCompare(b.user.email));

  return (
    <section aria-labelledby="members-title" className="section">
      <h2 id="members-title">Members</h2>
      {q.error ? (
        <ErrorState error={q.error} what="the members" onRetry={q.reload} />
      ) : !q.data ? (
        <LoadingState label="Loading members…" />
      ) : members.length === 0 ? (
        <EmptyState title="This team has no members." />
      ) : (
        <div className="table-wrap">
          <table className="cards-on-phone">
            <thead>
              <tr>
                <th scope="col">Member</th>
                <th scope="col">Role</th>
                <th scope="col">Joined</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {members.map((m) => (
                <MemberRow
                  key={m.user.id}
                  member={m}
                  teamId={team.id}
                  teamName={team.name}
                  myRole={team.viewerRole}
                  myUserId={me.id}
                  onChanged={(self) => {
                    q.reload();
                    if (self) refresh();
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
