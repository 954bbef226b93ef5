import { useState } from "preact/hooks";
import { describe, fetchJSON } from "../api/client";
import type { Tokens } from "../api/types";
import type { Session } from "../auth/session";
import { Logo } from "./icons";

type Mode = "login" | "register";

export function AuthScreen({ session }: { session: Session }) {
  const [mode, setMode] = useState<Mode>("login");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const body =
        mode === "login"
          ? { username: username.trim(), password }
          : { username: username.trim(), password, display_name: displayName.trim() };
      const t = await fetchJSON<Tokens>("POST", `/api/v1/auth/${mode}`, body);
      session.start(t);
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  }

  const switchTo = (m: Mode) => {
    setMode(m);
    setError("");
  };

  return (
    <main class="auth">
      <form class="auth-card" onSubmit={submit} aria-labelledby="auth-title">
        <div class="auth-brand">
          <Logo />
          <span>Parley</span>
        </div>
        <h1 id="auth-title">{mode === "login" ? "Welcome back" : "Create your account"}</h1>
        <p class="muted">
          {mode === "login"
            ? "Log in to pick up your conversations."
            : "Join the conversation in a few seconds."}
        </p>
        <label>
          Username
          <input
            name="username"
            autocomplete="username"
            required
            minLength={3}
            maxLength={32}
            pattern="[A-Za-z0-9_.\-]+"
            title="3–32 letters, digits, _ . or -"
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        {mode === "register" && (
          <label>
            Display name <span class="muted">(optional)</span>
            <input
              name="display_name"
              autocomplete="nickname"
              maxLength={64}
              value={displayName}
              onInput={(e) => setDisplayName(e.currentTarget.value)}
            />
          </label>
        )}
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete={mode === "login" ? "current-password" : "new-password"}
            required
            minLength={mode === "register" ? 8 : 1}
            maxLength={256}
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {error && (
          <p class="form-error" role="alert">
            {error}
          </p>
        )}
        <button class="btn primary wide" type="submit" disabled={busy}>
          {busy ? "One moment…" : mode === "login" ? "Log in" : "Create account"}
        </button>
        <p class="auth-switch">
          {mode === "login" ? "New to Parley? " : "Have an account? "}
          <button
            type="button"
            class="link"
            onClick={() => switchTo(mode === "login" ? "register" : "login")}
          >
            {mode === "login" ? "Create an account" : "Log in"}
          </button>
        </p>
      </form>
    </main>
  );
}
