import { LoginForm } from "@/components/auth/login-form";

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ next?: string | string[] }> }) {
  const { next } = await searchParams;
  return (
    <div className="center">
      <LoginForm next={typeof next === "string" ? next : undefined} />
    </div>
  );
}
