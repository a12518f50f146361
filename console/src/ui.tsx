// What the pages share: the API of the signed-in user, data loading, errors, small widgets.
import { createContext, type ComponentChildren } from "preact";
import { useCallback, useContext, useEffect, useState } from "preact/hooks";
import { type Api, run } from "./api";
import { Link } from "./router";

export const ApiContext = createContext<Api | null>(null);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error("no API in context");
  return api;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** The data of a query, loaded again whenever `variables` change or `reload` is called. */
export function useQuery<T = any>(document: string, variables: Record<string, unknown> = {}): Loaded<T> {
  const api = useApi();
  const key = JSON.stringify(variables);
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    run<T>(api, document, variables).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: Error) => live && setState({ data: null, error: error.message, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [api, document, key, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { ...state, reload };
}

type Variables = Record<string, unknown>;

/** A mutation's runner, its error and whether it is under way. */
export function useAction() {
  const api = useApi();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = useCallback(
    async <T = any,>(document: string, variables: Variables | (() => Variables) = {}): Promise<T | null> => {
      setBusy(true);
      setError(null);
      try {
        // A function of the form's fields may throw (invalid JSON): shown like the API's errors.
        return await run<T>(api, document, typeof variables === "function" ? variables() : variables);
      } catch (e) {
        setError((e as Error).message);
        return null;
      } finally {
        setBusy(false);
      }
    },
    [api],
  );
  return { act, error, setError, busy };
}

export function ErrorBox(props: { error: string | null | undefined }) {
  if (!props.error) return null;
  return (
    <div class="error" role="alert">
      {props.error}
    </div>
  );
}

export function Status(props: { status: string }) {
  return <span class={`badge status-${props.status}`}>{props.status}</span>;
}

export function Page(props: { title: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="page">
      <header class="page-head">
        <h1>{props.title}</h1>
        {props.actions && <div class="actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}

export function when(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleString() : "—";
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** A typed object's fields that are set: GraphQL answers the ones left out as null. */
export function given<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null)) as Partial<T>;
}

/** JSON text to a value, or throws with a message naming the field. */
export function parseJson(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${field}: not valid JSON (${(e as Error).message})`);
  }
}

/** A runtime in a list: a link to its page and its status. */
export function RuntimeItem(props: { runtime: { id: string; language: string; entryPoint: string; status: string }; children?: ComponentChildren }) {
  const r = props.runtime;
  return (
    <li>
      <Link href={`/runtimes/${r.id}`}>
        {r.language} · {r.entryPoint}
      </Link>
      <Status status={r.status} />
      {props.children}
    </li>
  );
}
