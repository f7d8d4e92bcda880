import { LoginForm } from "@/components/auth/login-form";

export default function LoginPage() {
  return (
    <div className="center">
      <LoginForm />
    </div>
  );
}
