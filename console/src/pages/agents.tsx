import { useState } from "preact/hooks";
import { Link, navigate } from "../router";
import { ErrorBox, Page, given, json, parseJson, useAction, useQuery, when } from "../ui";

export function AgentsPage() {
  const agents = useQuery(
    "{ agents { id name description capabilities configuration { model temperature maxTokens systemPrompt } createdAt } }",
  );
  const { act, error, busy } = useAction();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [configuration, setConfiguration] = useState(json({ temperature: 0.7, systemPrompt: "You are helpful." }));

  async function create(event: Event) {
    event.preventDefault();
    const input = () => ({ input: { name, description, configuration: parseJson(configuration, "Configuration") } });
    if (await act("mutation ($input: AgentInput!) { createAgent(input: $input) { id } }", input)) {
      setName("");
      setDescription("");
      agents.reload();
    }
  }

  async function remove(id: string) {
    if (await act("mutation ($id: ID!) { deleteAgent(agentId: $id) { message } }", { id })) agents.reload();
  }

  return (
    <Page title="Agents">
      <form class="card stack" onSubmit={create} aria-label="New agent">
        <div class="inline">
          <input name="name" placeholder="Agent name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <input name="description" placeholder="Description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <label>
          Configuration (JSON: model, temperature, maxTokens, systemPrompt)
          <textarea name="configuration" rows={4} class="mono" value={configuration} onInput={(e) => setConfiguration(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Create agent
        </button>
      </form>
      <ErrorBox error={error || agents.error} />
      <ul class="list">
        {agents.data?.agents.map((a: any) => (
          <li>
            <strong>{a.name}</strong>
            <span class="muted">
              {a.description} · {when(a.createdAt)}
            </span>
            <code class="muted">{JSON.stringify(given(a.configuration))}</code>
            <button class="danger small" onClick={() => remove(a.id)}>
              Delete
            </button>
          </li>
        ))}
        {agents.data && !agents.data.agents.length && <li class="muted">No agents yet.</li>}
      </ul>
    </Page>
  );
}

export function MemoriesPage() {
  const memories = useQuery("{ memories { id name description createdAt } }");
  const { act, error, busy } = useAction();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");

  async function create(event: Event) {
    event.preventDefault();
    const data = await act("mutation ($input: MemoryInput!) { createMemory(input: $input) { id } }", { input: { name, description } });
    if (data) navigate(`/memories/${data.createMemory.id}`);
  }

  return (
    <Page title="Memories">
      <form class="card inline" onSubmit={create} aria-label="New memory">
        <input name="name" placeholder="Memory name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <input name="description" placeholder="Description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        <button type="submit" disabled={busy}>
          Create memory
        </button>
      </form>
      <ErrorBox error={error || memories.error} />
      <ul class="list">
        {memories.data?.memories.map((m: any) => (
          <li>
            <Link href={`/memories/${m.id}`}>{m.name}</Link>
            <span class="muted">
              {m.description} · {when(m.createdAt)}
            </span>
          </li>
        ))}
        {memories.data && !memories.data.memories.length && <li class="muted">No memories yet.</li>}
      </ul>
    </Page>
  );
}

export function MemoryPage(props: { id: string }) {
  const memory = useQuery("query ($id: ID!) { memory(memoryId: $id) { id name description } }", { id: props.id });
  const entries = useQuery("query ($id: ID!) { memoryEntries(memoryId: $id) { id role content createdAt } }", { id: props.id });
  const { act, error, busy } = useAction();
  const [role, setRole] = useState("note");
  const [content, setContent] = useState("");
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<any[] | null>(null);

  async function add(event: Event) {
    event.preventDefault();
    if (await act("mutation ($id: ID!, $input: MemoryEntryInput!) { addMemoryEntry(memoryId: $id, input: $input) { id } }", { id: props.id, input: { role, content } })) {
      setContent("");
      entries.reload();
    }
  }

  async function search(event: Event) {
    event.preventDefault();
    const data = await act("query ($id: ID!, $q: String!) { searchMemory(memoryId: $id, query: $q) { id role content } }", { id: props.id, q: query });
    setFound(data ? data.searchMemory : null);
  }

  async function remove() {
    if (await act("mutation ($id: ID!) { deleteMemory(memoryId: $id) { message } }", { id: props.id })) navigate("/memories");
  }

  return (
    <Page
      title={memory.data?.memory.name ?? "Memory"}
      actions={
        <button class="danger" onClick={remove} disabled={busy}>
          Delete
        </button>
      }
    >
      <ErrorBox error={memory.error || entries.error || error} />
      <p class="muted">{memory.data?.memory.description}</p>
      <form class="card inline" onSubmit={add} aria-label="New entry">
        <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
          {["note", "user", "assistant", "system"].map((r) => (
            <option value={r}>{r}</option>
          ))}
        </select>
        <input name="content" class="grow" placeholder="Content" required value={content} onInput={(e) => setContent(e.currentTarget.value)} />
        <button type="submit" disabled={busy}>
          Add entry
        </button>
      </form>
      <form class="card inline" onSubmit={search} aria-label="Search memory">
        <input name="query" class="grow" placeholder="Search" required value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        <button type="submit" class="secondary" disabled={busy}>
          Search
        </button>
      </form>
      {found && (
        <div class="card">
          <h2>Best matches</h2>
          <ul class="list">
            {found.map((e) => (
              <li>
                <span class="badge">{e.role}</span> {e.content}
              </li>
            ))}
            {!found.length && <li class="muted">Nothing found.</li>}
          </ul>
        </div>
      )}
      <ul class="list">
        {entries.data?.memoryEntries.map((e: any) => (
          <li>
            <span class="badge">{e.role}</span> {e.content} <span class="muted">{when(e.createdAt)}</span>
          </li>
        ))}
      </ul>
    </Page>
  );
}
