import { useEffect, useState } from "preact/hooks";
import { type Api, listen, run } from "../api";
import { Link, navigate } from "../router";
import { ErrorBox, Page, Status, given, json, parseJson, useAction, useApi, useQuery, when } from "../ui";

const code = (id: string, seconds: number) => ({
  language: "python",
  code: `import time\ntime.sleep(${seconds})\nprint('${id} done')`,
});
const DIAMOND = [
  { id: "a", name: "Start", taskType: "code_execution", inputData: code("a", 1) },
  { id: "b", name: "Left", taskType: "code_execution", inputData: code("b", 2), dependsOn: ["a"] },
  { id: "c", name: "Right", taskType: "code_execution", inputData: code("c", 2), dependsOn: ["a"] },
  { id: "d", name: "Join", taskType: "code_execution", inputData: code("d", 1), dependsOn: ["b", "c"] },
];

export function WorkflowsPage() {
  const workflows = useQuery("{ workflows { id name description status updatedAt } }");
  const { act, error, busy } = useAction();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [steps, setSteps] = useState(json(DIAMOND));

  async function create(event: Event) {
    event.preventDefault();
    const data = await act("mutation ($input: WorkflowInput!) { createWorkflow(input: $input) { id } }", () => ({
      input: { name, description, steps: parseJson(steps, "Steps") },
    }));
    if (data) navigate(`/workflows/${data.createWorkflow.id}`);
  }

  return (
    <Page title="Workflows">
      <form class="card stack" onSubmit={create} aria-label="New workflow">
        <div class="inline">
          <input name="name" placeholder="Workflow name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <input name="description" placeholder="Description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <label>
          Steps (JSON)
          <textarea name="steps" rows={10} class="mono" value={steps} onInput={(e) => setSteps(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Create workflow
        </button>
      </form>
      <ErrorBox error={error || workflows.error} />
      <ul class="list">
        {workflows.data?.workflows.map((w: any) => (
          <li>
            <Link href={`/workflows/${w.id}`}>{w.name}</Link>
            <Status status={w.status} />
            <span class="muted">{when(w.updatedAt)}</span>
          </li>
        ))}
        {workflows.data && !workflows.data.workflows.length && <li class="muted">No workflows yet.</li>}
      </ul>
    </Page>
  );
}

interface StepDef {
  id: string;
  name?: string;
  taskType?: string;
  dependsOn?: string[] | null;
}

const STEP_FIELDS = "id name taskType inputData dependsOn retries timeout continueOnError context tools agentId memoryId";

const NODE_W = 140;
const NODE_H = 44;
const GAP_X = 60;
const GAP_Y = 24;

/** The steps as a graph drawn left to right by depth; each node coloured by its status. */
function Dag(props: { steps: StepDef[]; status: Record<string, string> }) {
  const byId = new Map(props.steps.map((s) => [s.id, s]));
  const depth = new Map<string, number>();
  const depthOf = (id: string, seen: Set<string>): number => {
    if (depth.has(id)) return depth.get(id)!;
    if (seen.has(id)) return 0;
    seen.add(id);
    const parents = (byId.get(id)?.dependsOn ?? []).filter((p) => byId.has(p));
    const d = parents.length ? Math.max(...parents.map((p) => depthOf(p, seen) + 1)) : 0;
    depth.set(id, d);
    return d;
  };
  props.steps.forEach((s) => depthOf(s.id, new Set()));
  const columns: string[][] = [];
  props.steps.forEach((s) => (columns[depth.get(s.id)!] ??= []).push(s.id));
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const height = rows * (NODE_H + GAP_Y) + GAP_Y;
  const width = columns.length * (NODE_W + GAP_X) + GAP_X;
  const position = new Map<string, { x: number; y: number }>();
  columns.forEach((column, i) => {
    const offset = (height - column.length * (NODE_H + GAP_Y) + GAP_Y) / 2;
    column.forEach((id, j) => position.set(id, { x: GAP_X + i * (NODE_W + GAP_X), y: offset + j * (NODE_H + GAP_Y) }));
  });
  return (
    <svg class="dag" viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Workflow steps">
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto">
          <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
        </marker>
      </defs>
      {props.steps.flatMap((s) =>
        (s.dependsOn ?? [])
          .filter((p) => position.has(p))
          .map((p) => {
            const from = position.get(p)!;
            const to = position.get(s.id)!;
            const x1 = from.x + NODE_W;
            const y1 = from.y + NODE_H / 2;
            const x2 = to.x;
            const y2 = to.y + NODE_H / 2;
            const mid = (x1 + x2) / 2;
            return <path class="edge" d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} marker-end="url(#arrow)" />;
          }),
      )}
      {props.steps.map((s) => {
        const { x, y } = position.get(s.id)!;
        const status = props.status[s.id] ?? "pending";
        return (
          <g class={`node status-${status}`} data-step={s.id} data-status={status} transform={`translate(${x},${y})`}>
            <rect width={NODE_W} height={NODE_H} rx="8" />
            <text x={NODE_W / 2} y="18" text-anchor="middle" class="node-name">
              {s.name || s.id}
            </text>
            <text x={NODE_W / 2} y="34" text-anchor="middle" class="node-status">
              {status}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

const RANK: Record<string, number> = { pending: 0, created: 1, running: 2 };
const FINISHED = ["completed", "failed", "cancelled"];

/**
 * Follows a run through its own updates: its status, and each step's attempt created, running
 * and finished. The steps' list is read once at the start (and at the end) for what happened
 * before the subscription began.
 */
function followRun(
  api: Api,
  runId: string,
  setRun: (task: any) => void,
  setStatus: (update: (now: Record<string, string>) => Record<string, string>) => void,
  onError: (message: string) => void,
): () => void {
  let live = true;

  // A step's status moves forward within one attempt; a new attempt (created) starts it over.
  const advance = (stepId: string, status: string) => {
    if (!live) return;
    setStatus((now) => {
      const current = now[stepId] ?? "pending";
      const forward = status === "created" || FINISHED.includes(status) || (RANK[status] ?? 3) > (RANK[current] ?? 3);
      return forward && current !== status ? { ...now, [stepId]: status } : now;
    });
  };

  const refresh = () =>
    run(api, "query ($id: ID!) { workflowSteps(taskId: $id) { id status } }", { id: runId }).then(
      (data) => {
        if (!live) return;
        setStatus((now) => {
          const next = { ...now };
          for (const step of data.workflowSteps) {
            const current = next[step.id] ?? "pending";
            if (FINISHED.includes(step.status) || (RANK[step.status] ?? 3) > (RANK[current] ?? 3)) next[step.id] = step.status;
          }
          return next;
        });
      },
      (e: Error) => live && onError(e.message),
    );

  void refresh();
  const stop = listen(
    api,
    "subscription ($id: ID!) { taskUpdates(taskId: $id) { type stepId stepStatus task { id status result error finishedAt } } }",
    { id: runId },
    (data: any) => {
      const update = data.taskUpdates;
      if (live) setRun(update.task);
      if (update.type === "step" && update.stepId && update.stepStatus) advance(update.stepId, update.stepStatus);
      if (update.type === "status" && FINISHED.includes(update.task.status)) void refresh();
    },
    onError,
  );
  return () => {
    live = false;
    stop();
  };
}

export function WorkflowPage(props: { id: string }) {
  const api = useApi();
  const workflow = useQuery(`query ($id: ID!) { workflow(workflowId: $id) { id name description steps { ${STEP_FIELDS} } status result } }`, {
    id: props.id,
  });
  const runs = useQuery("query ($id: ID!) { workflowRuns(workflowId: $id, limit: 50) { id status createdAt } }", { id: props.id });
  const { act, error, busy } = useAction();
  const [variables, setVariables] = useState("{}");
  const [runId, setRunId] = useState<string | null>(null);
  const [run_, setRun] = useState<any>(null);
  const [status, setStatus] = useState<Record<string, string>>({});
  const [liveError, setLiveError] = useState<string | null>(null);

  const ownRuns = runs.data?.workflowRuns ?? [];
  useEffect(() => {
    if (!runId && ownRuns.length) setRunId(ownRuns[0].id);
  }, [runs.data]);

  useEffect(() => {
    if (!runId) return;
    setStatus({});
    setRun(null);
    return followRun(api, runId, setRun, setStatus, setLiveError);
  }, [api, runId]);

  async function execute(event: Event) {
    event.preventDefault();
    const data = await act("mutation ($id: ID!, $v: JSON!) { executeWorkflow(workflowId: $id, variables: $v) { id } }", () => ({
      id: props.id,
      v: parseJson(variables, "Variables"),
    }));
    if (data) {
      setRunId(data.executeWorkflow.id);
      runs.reload();
    }
  }

  const w = workflow.data?.workflow;
  const steps: StepDef[] = Array.isArray(w?.steps) ? w.steps : [];
  return (
    <Page title={w?.name ?? "Workflow"}>
      <ErrorBox error={workflow.error || error || liveError} />
      <p class="muted">{w?.description}</p>
      <form class="card inline" onSubmit={execute} aria-label="Run workflow">
        <label class="grow">
          Variables (JSON)
          <input name="variables" class="mono" value={variables} onInput={(e) => setVariables(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Run
        </button>
      </form>
      <div class="card">
        <div class="editor-head">
          <h2>Steps</h2>
          {run_ && (
            <span data-testid="run-status">
              run <Link href={`/tasks/${run_.id}`}>{run_.id.slice(0, 8)}</Link> <Status status={run_.status} />
            </span>
          )}
          {ownRuns.length > 1 && (
            <select value={runId ?? ""} onChange={(e) => setRunId(e.currentTarget.value)} aria-label="Run">
              {ownRuns.map((t: any) => (
                <option value={t.id}>
                  {when(t.createdAt)} · {t.status}
                </option>
              ))}
            </select>
          )}
        </div>
        <Dag steps={steps} status={runId ? status : {}} />
        {run_?.error && <p class="error-text">{run_.error}</p>}
        {run_?.result && (
          <details open>
            <summary>Result</summary>
            <pre class="mono" data-testid="run-result">
              {json(run_.result)}
            </pre>
          </details>
        )}
      </div>
      <details class="card">
        <summary>Definition</summary>
        <pre class="mono">{json(steps.map(given))}</pre>
      </details>
    </Page>
  );
}
