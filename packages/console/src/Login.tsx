/** Sign-in form: the server answers with an HttpOnly session cookie. */
import type { Me } from "@tether/sdk";
import { type FormEvent, useState } from "react";
import { client } from "./client";
import { ErrorNotice } from "./ui";

export function LoginPage({ onLogin }: { onLogin: (me: Me) => void }) {
  const [username, setUsername] = useState("admin");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await client.login(username, password));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <div className="login">
      <form className="card form login-form" onSubmit={submit}>
        <h1>
          <span className="logo" aria-hidden="true" />
          Tether
        </h1>
        <p className="muted">Sign in to the fleet console.</p>
        <label>
          <span>Username</span>
          <input
            name="username"
            autoComplete="username"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </label>
        <label>
          <span>Password</span>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <ErrorNotice error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <p className="hint muted">
          The first admin password is in <code>&lt;data dir&gt;/admin.password</code> on the server.
        </p>
      </form>
    </div>
  );
}
