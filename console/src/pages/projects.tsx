import { useEffect, useState } from "preact/hooks";
import { run } from "../api";
import { Link, navigate } from "../router";
import { ErrorBox, Page, RuntimeItem, useAction, useApi, useQuery, when } from "../ui";

export function ProjectsPage() {
  const projects = useQuery("{ projects { id name description updatedAt files { path } } }");
  const { act, error, busy } = useAction();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");

  async function create(event: Event) {
    event.preventDefault();
    const data = await act("mutation ($input: ProjectInput!) { createProject(input: $input) { id } }", {
      input: { name, description },
    });
    if (data) navigate(`/projects/${data.createProject.id}`);
  }

  return (
    <Page title="Projects">
      <form class="card inline" onSubmit={create} aria-label="New project">
        <input name="name" placeholder="Project name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <input
          name="description"
          placeholder="Description"
          value={description}
          onInput={(e) => setDescription(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Create project
        </button>
      </form>
      <ErrorBox error={error || projects.error} />
      <ul class="list" data-testid="projects">
        {projects.data?.projects.map((p: any) => (
          <li>
            <Link href={`/projects/${p.id}`}>{p.name}</Link>
            <span class="muted">
              {p.description} · {p.files.length} {p.files.length === 1 ? "file" : "files"} · {when(p.updatedAt)}
            </span>
          </li>
        ))}
        {projects.data && !projects.data.projects.length && <li class="muted">No projects yet.</li>}
      </ul>
    </Page>
  );
}

interface TreeNode {
  name: string;
  path: string;
  children: Map<string, TreeNode>;
  file: boolean;
}

function buildTree(paths: string[]): TreeNode {
  const root: TreeNode = { name: "", path: "", children: new Map(), file: false };
  for (const path of [...paths].sort()) {
    let node = root;
    path.split("/").forEach((part, i, parts) => {
      let child = node.children.get(part);
      if (!child) {
        child = { name: part, path: parts.slice(0, i + 1).join("/"), children: new Map(), file: false };
        node.children.set(part, child);
      }
      if (i === parts.length - 1) child.file = true;
      node = child;
    });
  }
  return root;
}

function Tree(props: { node: TreeNode; selected: string | null; onOpen: (path: string) => void }) {
  return (
    <ul class="tree">
      {[...props.node.children.values()].map((child) =>
        child.file ? (
          <li>
            <button
              class={`file ${child.path === props.selected ? "selected" : ""}`}
              data-path={child.path}
              onClick={() => props.onOpen(child.path)}
            >
              {child.name}
            </button>
          </li>
        ) : (
          <li>
            <span class="dir">{child.name}/</span>
            <Tree node={child} selected={props.selected} onOpen={props.onOpen} />
          </li>
        ),
      )}
    </ul>
  );
}

const LANGUAGES = ["python", "node", "bash"];

export function ProjectPage(props: { id: string }) {
  const api = useApi();
  const project = useQuery("query ($id: ID!) { project(projectId: $id) { id name description files { path size } } }", {
    id: props.id,
  });
  const runtimes = useQuery("query ($id: ID!) { runtimes(projectId: $id) { id language entryPoint status } }", {
    id: props.id,
  });
  const { act, error, setError, busy } = useAction();
  const [path, setPath] = useState<string | null>(null);
  const [content, setContent] = useState("");
  const [saved, setSaved] = useState<string | null>(null);
  const [newPath, setNewPath] = useState("");
  const [language, setLanguage] = useState("python");
  const [entryPoint, setEntryPoint] = useState("main.py");

  async function open(filePath: string) {
    setError(null);
    setSaved(null);
    try {
      const data = await run(
        api,
        "query ($id: ID!, $path: String!) { projectFile(projectId: $id, path: $path) { content encoding } }",
        { id: props.id, path: filePath },
      );
      setPath(filePath);
      setContent(data.projectFile.encoding === "text" ? data.projectFile.content : atob(data.projectFile.content));
    } catch (e) {
      setError((e as Error).message);
    }
  }

  async function save() {
    if (path === null) return;
    const data = await act(
      "mutation ($id: ID!, $path: String!, $input: FileInput!) { putProjectFile(projectId: $id, path: $path, input: $input) { path size } }",
      { id: props.id, path, input: { content, encoding: "text" } },
    );
    if (data) {
      setSaved(`Saved ${data.putProjectFile.path} (${data.putProjectFile.size} bytes)`);
      project.reload();
    }
  }

  async function remove() {
    if (path === null) return;
    if (await act("mutation ($id: ID!, $path: String!) { deleteProjectFile(projectId: $id, path: $path) { message } }", { id: props.id, path })) {
      setPath(null);
      setContent("");
      project.reload();
    }
  }

  function newFile(event: Event) {
    event.preventDefault();
    setPath(newPath.trim());
    setContent("");
    setSaved(null);
    setNewPath("");
  }

  async function createRuntime(event: Event) {
    event.preventDefault();
    const data = await act("mutation ($input: RuntimeInput!) { createRuntime(input: $input) { id } }", {
      input: { projectId: props.id, language, entryPoint },
    });
    if (data) navigate(`/runtimes/${data.createRuntime.id}`);
  }

  useEffect(() => {
    setPath(null);
  }, [props.id]);

  const files: { path: string }[] = project.data?.project.files ?? [];
  return (
    <Page title={project.data?.project.name ?? "Project"}>
      <ErrorBox error={project.error || error} />
      <p class="muted">{project.data?.project.description}</p>
      <div class="split">
        <aside class="card files">
          <h2>Files</h2>
          <Tree node={buildTree(files.map((f) => f.path))} selected={path} onOpen={open} />
          {project.data && !files.length && <p class="muted">No files yet.</p>}
          <form onSubmit={newFile} class="stack" aria-label="New file">
            <input name="path" placeholder="path/to/file.py" required value={newPath} onInput={(e) => setNewPath(e.currentTarget.value)} />
            <button type="submit" class="secondary">
              New file
            </button>
          </form>
        </aside>
        <div class="card editor">
          {path === null ? (
            <p class="muted">Open a file or make a new one.</p>
          ) : (
            <>
              <div class="editor-head">
                <code class="editing">{path}</code>
                <div class="actions">
                  <button onClick={save} disabled={busy}>
                    Save
                  </button>
                  <button class="danger" onClick={remove} disabled={busy}>
                    Delete
                  </button>
                </div>
              </div>
              <textarea
                name="content"
                spellcheck={false}
                value={content}
                onInput={(e) => {
                  setContent(e.currentTarget.value);
                  setSaved(null);
                }}
                onKeyDown={(e) => {
                  if ((e.ctrlKey || e.metaKey) && e.key === "s") {
                    e.preventDefault();
                    void save();
                  }
                }}
              />
              {saved && (
                <p class="ok" role="status">
                  {saved}
                </p>
              )}
            </>
          )}
        </div>
      </div>
      <div class="card">
        <h2>Runtimes</h2>
        <ErrorBox error={runtimes.error} />
        <ul class="list">
          {runtimes.data?.runtimes.map((r: any) => (
            <RuntimeItem runtime={r} />
          ))}
        </ul>
        <form class="inline" onSubmit={createRuntime} aria-label="New runtime">
          <select name="language" value={language} onChange={(e) => setLanguage(e.currentTarget.value)}>
            {LANGUAGES.map((l) => (
              <option value={l}>{l}</option>
            ))}
          </select>
          <input name="entryPoint" placeholder="main.py" required value={entryPoint} onInput={(e) => setEntryPoint(e.currentTarget.value)} />
          <button type="submit" disabled={busy}>
            Create runtime
          </button>
        </form>
      </div>
    </Page>
  );
}
