// The console's only link to NeuroNest: the public GraphQL API, over HTTP for queries and
// mutations and over graphql-transport-ws for subscriptions, with the signed-in user's token.
import { Client, CombinedError, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient as createWSClient, type Client as WSClient } from "graphql-ws";
import { pipe, subscribe } from "wonka";

const TOKEN_KEY = "neuronest.token";

export function storedToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

export interface Api {
  client: Client;
  ws: WSClient;
  token: string | null;
  /** Called when the API no longer accepts the token (expired, revoked, signed out elsewhere). */
  onUnauthenticated: (message: string) => void;
}

export function makeApi(token: string | null, onUnauthenticated: (message: string) => void = () => undefined): Api {
  const auth: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = createWSClient({
    url: `${scheme}//${location.host}/graphql`,
    connectionParams: auth,
    lazy: true,
    retryAttempts: 3,
  });
  const client = new Client({
    url: "/graphql",
    requestPolicy: "network-only",
    preferGetMethod: false,
    fetchOptions: () => ({ headers: auth }),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || "" };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return { client, ws, token, onUnauthenticated };
}

/** The messages of a failed operation, as the API wrote them. */
export function errorText(error: unknown): string {
  if (error instanceof CombinedError) {
    if (error.graphQLErrors.length) return error.graphQLErrors.map((e) => e.message).join("\n");
    if (error.networkError) return error.networkError.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

export class ApiError extends Error {}

/** Runs a query or mutation; resolves with its data or rejects with the API's messages. */
export async function run<T = any>(
  api: Api,
  document: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const isMutation = /^\s*mutation\b/.test(document);
  const result = isMutation
    ? await api.client.mutation(document, variables).toPromise()
    : await api.client.query(document, variables).toPromise();
  if (result.error) {
    const message = errorText(result.error);
    if (api.token && result.error.graphQLErrors.some((e) => e.extensions?.code === "UNAUTHENTICATED")) {
      api.onUnauthenticated(message);
    }
    throw new ApiError(message);
  }
  return result.data as T;
}

/** Subscribes; `onData` gets each event's data, `onError` the API's messages. */
export function listen<T = any>(
  api: Api,
  document: string,
  variables: Record<string, unknown>,
  onData: (data: T) => void,
  onError: (message: string) => void,
): () => void {
  const { unsubscribe } = pipe(
    api.client.subscription(document, variables),
    subscribe((result) => {
      if (result.error) onError(errorText(result.error));
      else if (result.data) onData(result.data as T);
    }),
  );
  return unsubscribe;
}
