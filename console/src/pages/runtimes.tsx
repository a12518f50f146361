import { useEffect, useRef, useState } from "preact/hooks";
import { listen } from "../api";
import { Link } from "../router";
import { ErrorBox, Page, RuntimeItem, Status, useAction, useApi, useQuery, when } from "../ui";

const RUNTIME_FIELDS = "id projectId language entryPoint status exitCode error backend url startedAt finishedAt";

export function RuntimesPage() {
  const runtimes = useQuery("{ runtimes { id projectId language entryPoint status createdAt } }");
  return (
    <Page title="Runtimes">
      <ErrorBox error={runtimes.error} />
      <p class="muted">A runtime runs a project's entry point; create one from its project's page.</p>
      <ul class="list">
        {runtimes.data?.runtimes.map((r: any) => (
          <RuntimeItem runtime={r}>
            <span class="muted">{when(r.createdAt)}</span>
          </RuntimeItem>
        ))}
        {runtimes.data && !runtimes.data.runtimes.length && <li class="muted">No runtimes yet.</li>}
      </ul>
    </Page>
  );
}

interface LogLine {
  seq: number;
  type: string;
  message: string;
  timestamp: string;
}

/** Lines kept in the page; older ones are dropped from the top. */
const MAX_LINES = 20000;

/**
 * The runtime's log, live. Lines are appended to the DOM directly, a frame's worth at a time, so a
 * flood costs one layout per frame; the view follows the tail unless the reader scrolled up.
 */
function LogView(props: { runtimeId: string }) {
  const api = useApi();
  const box = useRef<HTMLDivElement>(null);
  const [count, setCount] = useState(0);
  const [follow, setFollow] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const followRef = useRef(true);

  useEffect(() => {
    const element = box.current!;
    element.textContent = "";
    let lastSeq = -1;
    let pending: LogLine[] = [];
    let frame = 0;
    let total = 0;
    const flush = () => {
      frame = 0;
      const fragment = document.createDocumentFragment();
      for (const line of pending) {
        const row = document.createElement("div");
        row.className = `line log-${line.type}`;
        row.dataset.seq = String(line.seq);
        row.title = line.timestamp;
        row.textContent = line.message;
        fragment.appendChild(row);
      }
      total += pending.length;
      pending = [];
      element.appendChild(fragment);
      while (element.childElementCount > MAX_LINES) element.firstElementChild!.remove();
      if (followRef.current) element.scrollTop = element.scrollHeight;
      setCount(total);
    };
    const stop = listen<{ runtimeLogBatches: LogLine[] }>(
      api,
      "subscription ($id: ID!) { runtimeLogBatches(runtimeId: $id, limit: 1000) }",
      { id: props.runtimeId },
      (data) => {
        for (const line of data.runtimeLogBatches) {
          if (line.seq <= lastSeq) continue;
          lastSeq = line.seq;
          pending.push(line);
        }
        if (pending.length && !frame) frame = requestAnimationFrame(flush);
      },
      setError,
    );
    return () => {
      stop();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [api, props.runtimeId]);

  const onScroll = () => {
    const element = box.current!;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
    followRef.current = atBottom;
    setFollow(atBottom);
  };

  return (
    <div class="card">
      <div class="editor-head">
        <h2>Log</h2>
        <span class="muted" data-testid="log-count">
          {count} lines {follow ? "· following" : ""}
        </span>
        {!follow && (
          <button
            class="secondary"
            onClick={() => {
              followRef.current = true;
              setFollow(true);
              box.current!.scrollTop = box.current!.scrollHeight;
            }}
          >
            Follow
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      <div class="log" ref={box} onScroll={onScroll} data-testid="log" />
    </div>
  );
}

export function RuntimePage(props: { id: string }) {
  const api = useApi();
  const [runtime, setRuntime] = useState<any>(null);
  const [error, setError] = useState<string | null>(null);
  const { act, error: actionError, busy } = useAction();

  useEffect(
    () =>
      listen(
        api,
        `subscription ($id: ID!) { runtimeStatus(runtimeId: $id) { ${RUNTIME_FIELDS} } }`,
        { id: props.id },
        (data: any) => setRuntime(data.runtimeStatus),
        setError,
      ),
    [api, props.id],
  );

  const control = (verb: "start" | "stop" | "restart") =>
    act(`mutation ($id: ID!) { ${verb}Runtime(runtimeId: $id) { message } }`, { id: props.id });

  return (
    <Page
      title={runtime ? `${runtime.language} · ${runtime.entryPoint}` : "Runtime"}
      actions={
        <>
          <button onClick={() => control("start")} disabled={busy}>
            Start
          </button>
          <button class="secondary" onClick={() => control("stop")} disabled={busy}>
            Stop
          </button>
          <button class="secondary" onClick={() => control("restart")} disabled={busy}>
            Restart
          </button>
        </>
      }
    >
      <ErrorBox error={error || actionError} />
      {runtime && (
        <dl class="facts card">
          <dt>Status</dt>
          <dd data-testid="runtime-status">
            <Status status={runtime.status} />
          </dd>
          <dt>Project</dt>
          <dd>
            <Link href={`/projects/${runtime.projectId}`}>open</Link>
          </dd>
          <dt>Backend</dt>
          <dd>{runtime.backend ?? "—"}</dd>
          <dt>Exit code</dt>
          <dd>{runtime.exitCode ?? "—"}</dd>
          {runtime.url && (
            <>
              <dt>URL</dt>
              <dd>{runtime.url}</dd>
            </>
          )}
          <dt>Started</dt>
          <dd>{when(runtime.startedAt)}</dd>
          <dt>Finished</dt>
          <dd>{when(runtime.finishedAt)}</dd>
          {runtime.error && (
            <>
              <dt>Error</dt>
              <dd class="error-text">{runtime.error}</dd>
            </>
          )}
        </dl>
      )}
      <LogView runtimeId={props.id} />
    </Page>
  );
}
