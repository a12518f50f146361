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

/** Lines kept in the page; beyond that the oldest are dropped, a block at a time. */
const MAX_LINES = 100_000;
const DROP_BLOCK = 10_000;
/** Height of one line in pixels (`.log .line` in style.css). */
const ROW = 18;
/** Lines drawn above and below the visible ones. */
const OVERSCAN = 20;

/**
 * The runtime's log, live and virtualised: every line is kept in memory, only those in sight
 * are in the DOM, redrawn at most once a frame, so a flood costs the same as a trickle. The view
 * follows the tail unless the reader scrolled up.
 */
function LogView(props: { runtimeId: string }) {
  const api = useApi();
  const box = useRef<HTMLDivElement>(null);
  const spacer = useRef<HTMLDivElement>(null);
  const rows = useRef<HTMLDivElement>(null);
  const [count, setCount] = useState(0);
  const [follow, setFollow] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const view = useRef({ lines: [] as LogLine[], follow: true, frame: 0, draw: () => undefined as void });

  useEffect(() => {
    const state = view.current;
    state.lines = [];
    state.follow = true;
    let lastSeq = -1;
    let dropped = 0;
    const draw = () => {
      state.frame = 0;
      const element = box.current;
      if (!element) return;
      spacer.current!.style.height = `${state.lines.length * ROW}px`;
      if (state.follow) element.scrollTop = element.scrollHeight;
      const first = Math.max(0, Math.floor(element.scrollTop / ROW) - OVERSCAN);
      const last = Math.min(state.lines.length, Math.ceil((element.scrollTop + element.clientHeight) / ROW) + OVERSCAN);
      const fragment = document.createDocumentFragment();
      for (let i = first; i < last; i++) {
        const line = state.lines[i];
        const row = document.createElement("div");
        row.className = `line log-${line.type}`;
        row.dataset.seq = String(line.seq);
        row.title = line.timestamp;
        row.textContent = line.message;
        fragment.appendChild(row);
      }
      rows.current!.style.transform = `translateY(${first * ROW}px)`;
      rows.current!.replaceChildren(fragment);
      setCount(state.lines.length + dropped);
    };
    state.draw = () => {
      if (!state.frame) state.frame = requestAnimationFrame(draw);
    };
    const stop = listen<{ runtimeLogBatches: LogLine[] }>(
      api,
      "subscription ($id: ID!) { runtimeLogBatches(runtimeId: $id, limit: 1000) }",
      { id: props.runtimeId },
      (data) => {
        for (const line of data.runtimeLogBatches) {
          if (line.seq <= lastSeq) continue;
          lastSeq = line.seq;
          state.lines.push(line);
        }
        if (state.lines.length > MAX_LINES + DROP_BLOCK) {
          state.lines.splice(0, DROP_BLOCK);
          dropped += DROP_BLOCK;
          if (!state.follow && box.current) box.current.scrollTop -= DROP_BLOCK * ROW;
        }
        state.draw();
      },
      setError,
    );
    return () => {
      stop();
      if (state.frame) cancelAnimationFrame(state.frame);
      state.frame = 0;
    };
  }, [api, props.runtimeId]);

  const onScroll = () => {
    const element = box.current!;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < ROW;
    view.current.follow = atBottom;
    setFollow(atBottom);
    view.current.draw();
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
              view.current.follow = true;
              setFollow(true);
              view.current.draw();
            }}
          >
            Follow
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      <div class="log" ref={box} onScroll={onScroll} data-testid="log">
        <div class="log-spacer" ref={spacer}>
          <div class="log-rows" ref={rows} />
        </div>
      </div>
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
