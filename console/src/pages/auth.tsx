import { useState } from "preact/hooks";
import { type Api, run } from "../api";
import { Link } from "../router";
import { ErrorBox } from "../ui";

const AUTH_FIELDS = "accessToken user { id email name }";

/** Sign in or sign up; `onToken` gets the new session's token. */
export function AuthPage(props: {
  mode: "signin" | "signup";
  api: Api;
  onToken: (token: string) => void;
  notice?: string | null;
}) {
  const signup = props.mode === "signup";
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = signup
        ? await run(props.api, `mutation ($input: RegisterInput!) { auth: register(input: $input) { ${AUTH_FIELDS} } }`, {
            input: { email, password, name },
          })
        : await run(props.api, `mutation ($input: LoginInput!) { auth: login(input: $input) { ${AUTH_FIELDS} } }`, {
            input: { email, password },
          });
      props.onToken(data.auth.accessToken);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="auth">
      <form class="card" onSubmit={submit} aria-label={signup ? "Sign up" : "Sign in"}>
        <h1>NeuroNest</h1>
        <h2>{signup ? "Create an account" : "Sign in"}</h2>
        {props.notice && (
          <p class="notice" role="status">
            {props.notice}
          </p>
        )}
        {signup && (
          <label>
            Name
            <input name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="name" />
          </label>
        )}
        <label>
          Email
          <input
            name="email"
            type="email"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
            autocomplete="username"
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            autocomplete={signup ? "new-password" : "current-password"}
          />
        </label>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          {signup ? "Sign up" : "Sign in"}
        </button>
        <p class="muted">
          {signup ? (
            <>
              Have an account? <Link href="/signin">Sign in</Link>
            </>
          ) : (
            <>
              New here? <Link href="/signup">Create an account</Link>
            </>
          )}
        </p>
      </form>
    </main>
  );
}
