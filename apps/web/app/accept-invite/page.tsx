import { AcceptInviteForm } from "@/components/auth/accept-invite-form";

export default async function AcceptInvitePage({ searchParams }: { searchParams: Promise<{ token?: string | string[] }> }) {
  const { token } = await searchParams;
  return (
    <div className="center">
      <AcceptInviteForm initialToken={typeof token === "string" ? token : undefined} />
    </div>
  );
}
