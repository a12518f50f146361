import { useEffect, useState } from "preact/hooks";
import { listen } from "../api";
import { Link, navigate } from "../router";
import { ErrorBox, Page, Status, json, parseJson, useAction, useApi, useQuery, when } from "../ui";

const TASK_TYPES = ["text_generation", "summarization", "research", "text_formatting", "calculation", "code_execution"];
const EXAMPLES: Record<string, unknown> = {
  summarization: { text: "" },
  research: { query: "" },
  text_formatting: { text: "", format: "markdown" },
  calculation: { expression: "6*7" },
  code_execution: { language: "python", code: "print('hello')" },
};
const TASK_FIELDS = "id taskType status inputData result error startedAt finishedAt createdAt agentId parentId";

export function TasksPage() {
  const tasks = useQuery(`{ tasks(limit: 50) { ${TASK_FIELDS} } }`);
  const agents = useQuery("{ agents { id name } }");
  const { act, error, busy } = useAction();
  const [taskType, setTaskType] = useState("text_generation");
  const [prompt, setPrompt] = useState("");
  const [input, setInput] = useState("{}");
  const [agentId, setAgentId] = useState("");

  async function create(event: Event) {
    event.preventDefault();
    const data = await act("mutation ($input: TaskInput!) { createTask(input: $input) { id } }", () => ({
      input: {
        taskType,
        inputData: taskType === "text_generation" ? { prompt } : parseJson(input, "Input"),
        agentId: agentId || null,
      },
    }));
    if (data) navigate(`/tasks/${data.createTask.id}`);
  }

  return (
    <Page title="Tasks">
      <form class="card stack" onSubmit={create} aria-label="New task">
        <div class="inline">
          <select
            name="taskType"
            value={taskType}
            onChange={(e) => {
              const type = e.currentTarget.value;
              setTaskType(type);
              if (type in EXAMPLES) setInput(json(EXAMPLES[type]));
            }}
          >
            {TASK_TYPES.map((t) => (
              <option value={t}>{t}</option>
            ))}
          </select>
          <select name="agentId" value={agentId} onChange={(e) => setAgentId(e.currentTarget.value)}>
            <option value="">no agent</option>
            {agents.data?.agents.map((a: any) => (
              <option value={a.id}>{a.name}</option>
            ))}
          </select>
        </div>
        {taskType === "text_generation" ? (
          <textarea name="prompt" rows={3} placeholder="Prompt" value={prompt} onInput={(e) => setPrompt(e.currentTarget.value)} />
        ) : (
          <textarea name="inputData" rows={4} class="mono" value={input} onInput={(e) => setInput(e.currentTarget.value)} />
        )}
        <button type="submit" disabled={busy}>
          Run task
        </button>
      </form>
      <ErrorBox error={error || tasks.error} />
      <ul class="list">
        {tasks.data?.tasks.map((t: any) => (
          <li>
            <Link href={`/tasks/${t.id}`}>{t.taskType}</Link>
            <Status status={t.status} />
            <span class="muted">{when(t.createdAt)}</span>
          </li>
        ))}
        {tasks.data && !tasks.data.tasks.length && <li class="muted">No tasks yet.</li>}
      </ul>
    </Page>
  );
}

export function TaskPage(props: { id: string }) {
  const api = useApi();
  const [task, setTask] = useState<any>(null);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const { act, error: actionError, busy } = useAction();

  useEffect(() => {
    setText("");
    setTask(null);
    return listen(
      api,
      `subscription ($id: ID!) { taskUpdates(taskId: $id) { type text task { ${TASK_FIELDS} } } }`,
      { id: props.id },
      (data: any) => {
        const update = data.taskUpdates;
        setTask(update.task);
        if (update.type === "delta" && update.text) setText((t) => t + update.text);
      },
      setError,
    );
  }, [api, props.id]);

  const resultText = task?.result && typeof task.result.text === "string" ? task.result.text : null;
  const shown = text || resultText || "";
  return (
    <Page
      title={task ? `Task · ${task.taskType}` : "Task"}
      actions={
        <button
          class="secondary"
          disabled={busy || !task || !["created", "running"].includes(task.status)}
          onClick={() => act("mutation ($id: ID!) { cancelTask(taskId: $id) { message } }", { id: props.id })}
        >
          Cancel
        </button>
      }
    >
      <ErrorBox error={error || actionError} />
      {task && (
        <>
          <dl class="facts card">
            <dt>Status</dt>
            <dd data-testid="task-status">
              <Status status={task.status} />
            </dd>
            <dt>Started</dt>
            <dd>{when(task.startedAt)}</dd>
            <dt>Finished</dt>
            <dd>{when(task.finishedAt)}</dd>
            {task.parentId && (
              <>
                <dt>Part of</dt>
                <dd>
                  <Link href={`/tasks/${task.parentId}`}>its run</Link>
                </dd>
              </>
            )}
            {task.error && (
              <>
                <dt>Error</dt>
                <dd class="error-text">{task.error}</dd>
              </>
            )}
          </dl>
          <div class="card">
            <h2>Input</h2>
            <pre class="mono">{json(task.inputData)}</pre>
          </div>
          <div class="card">
            <h2>Output</h2>
            <div class="stream" data-testid="task-text">
              {shown}
            </div>
            {task.result && (
              <details>
                <summary>Result</summary>
                <pre class="mono">{json(task.result)}</pre>
              </details>
            )}
          </div>
        </>
      )}
    </Page>
  );
}
