import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { makeApi, run, storedToken, storeToken } from "./api";
import { AuthPage } from "./pages/auth";
import { AgentsPage, MemoriesPage, MemoryPage } from "./pages/agents";
import { ProjectPage, ProjectsPage } from "./pages/projects";
import { RuntimePage, RuntimesPage } from "./pages/runtimes";
import { TaskPage, TasksPage } from "./pages/tasks";
import { WorkflowPage, WorkflowsPage } from "./pages/workflows";
import { Link, match, navigate, usePath } from "./router";
import { ApiContext, ErrorBox, useQuery } from "./ui";
import "./style.css";

const NAV: [string, string][] = [
  ["/projects", "Projects"],
  ["/runtimes", "Runtimes"],
  ["/tasks", "Tasks"],
  ["/workflows", "Workflows"],
  ["/agents", "Agents"],
  ["/memories", "Memories"],
];

function Routes(props: { path: string }) {
  const path = props.path;
  let params: Record<string, string> | null;
  if ((params = match("/projects/:id", path))) return <ProjectPage id={params.id} />;
  if ((params = match("/runtimes/:id", path))) return <RuntimePage id={params.id} />;
  if ((params = match("/tasks/:id", path))) return <TaskPage id={params.id} />;
  if ((params = match("/workflows/:id", path))) return <WorkflowPage id={params.id} />;
  if ((params = match("/memories/:id", path))) return <MemoryPage id={params.id} />;
  if (match("/runtimes", path)) return <RuntimesPage />;
  if (match("/tasks", path)) return <TasksPage />;
  if (match("/workflows", path)) return <WorkflowsPage />;
  if (match("/agents", path)) return <AgentsPage />;
  if (match("/memories", path)) return <MemoriesPage />;
  return <ProjectsPage />;
}

function Shell(props: { path: string; onSignOut: () => void }) {
  const me = useQuery("{ me { id email name } }");
  return (
    <div class="shell">
      <header class="top">
        <Link href="/projects" class="brand">
          NeuroNest
        </Link>
        <nav>
          {NAV.map(([href, label]) => (
            <Link href={href} class={props.path.startsWith(href) ? "active" : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <div class="who">
          <span class="me">{me.data?.me.email}</span>
          <button class="secondary" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <ErrorBox error={me.error} />
      <main>
        <Routes path={props.path} />
      </main>
    </div>
  );
}

function App() {
  const [token, setToken] = useState(storedToken());
  const [notice, setNotice] = useState<string | null>(null);
  const api = useMemo(
    () =>
      makeApi(token, (message) => {
        storeToken(null);
        setToken(null);
        setNotice(`${message} Please sign in again.`);
      }),
    [token],
  );
  const path = usePath();
  useEffect(() => () => void api.ws.dispose(), [api]);

  const signedIn = (newToken: string) => {
    storeToken(newToken);
    setNotice(null);
    setToken(newToken);
    navigate("/projects");
  };
  const signOut = async () => {
    try {
      await run(api, "mutation { logout { message } }");
    } catch {
      // The token may have expired or been revoked already: signing out locally is enough.
    }
    storeToken(null);
    setNotice(null);
    setToken(null);
    navigate("/signin");
  };

  if (!token) {
    return <AuthPage mode={path === "/signup" ? "signup" : "signin"} api={api} onToken={signedIn} notice={notice} />;
  }
  return (
    <ApiContext.Provider value={api}>
      <Shell path={path} onSignOut={signOut} />
    </ApiContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);
