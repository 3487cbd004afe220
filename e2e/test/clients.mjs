// One subscription helper per client library. Each resolves with the list of
// payloads (data objects) once the server completes the subscription, and
// rejects on any error.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql as apolloGql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import { SubscriptionClient } from 'subscriptions-transport-ws';
import { pipe, onEnd, subscribe as wonkaSubscribe } from 'wonka';
import WebSocket from 'ws';
import { isDeepStrictEqual } from 'node:util';

export const EVENTS_SUB = 'subscription($id: ID!, $after: Int) { simulationEvents(id: $id, after: $after) { seq type agentId round status } }';
export const PROGRESS_SUB = 'subscription($id: ID!) { simulationProgress(id: $id) { status completedSteps totalSteps } }';

function wsClient(server) {
  return createWsClient({ url: server.wsURL, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
}

/** Apollo Client with GraphQLWsLink for subscriptions and HttpLink for the rest. */
export function apolloClient(server) {
  const ws = wsClient(server);
  const wsLink = new GraphQLWsLink(ws);
  const httpLink = new HttpLink({ uri: server.httpURL });
  const link = ApolloLink.split(
    (op) => op.query.definitions.some((d) => d.kind === 'OperationDefinition' && d.operation === 'subscription'),
    wsLink,
    httpLink,
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return { client, dispose: async () => { client.stop(); await ws.dispose(); } };
}

export function apolloSubscribe(apollo, query, variables) {
  return new Promise((resolve, reject) => {
    const out = [];
    apollo.client.subscribe({ query: apolloGql(query), variables, fetchPolicy: 'no-cache' }).subscribe({
      next: (r) => {
        if (r.error || r.errors?.length) return reject(new Error(`apollo: ${r.error?.message ?? JSON.stringify(r.errors)}`));
        out.push(r.data);
      },
      error: (e) => reject(new Error(`apollo: ${e?.message ?? e}`)),
      complete: () => resolve(out),
    });
  });
}

/** urql core client with subscriptionExchange forwarding to a graphql-ws client. */
export async function urqlSubscribe(server, query, variables) {
  const ws = wsClient(server);
  const client = new UrqlClient({
    url: server.httpURL,
    exchanges: [
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
        },
      }),
      fetchExchange,
    ],
  });
  try {
    return await new Promise((resolve, reject) => {
      const out = [];
      pipe(
        client.subscription(query, variables),
        onEnd(() => resolve(out)),
        wonkaSubscribe((r) => {
          if (r.error) return reject(new Error(`urql: ${r.error.message}`));
          // On completion urql emits one more result with hasNext: false that
          // repeats the previous data (mergeResultPatch); it is a completion
          // marker, not a new server message.
          if (r.hasNext === false && out.length && isDeepStrictEqual(r.data, out.at(-1))) return;
          out.push(r.data);
        }),
      );
    });
  } finally {
    await ws.dispose();
  }
}

/** graphql-sse client (distinct connections mode). */
export async function sseSubscribe(server, query, variables) {
  const client = createSseClient({ url: server.httpURL, retryAttempts: 0 });
  try {
    return await new Promise((resolve, reject) => {
      const out = [];
      client.subscribe({ query, variables }, {
        next: (r) => {
          if (r.errors?.length) return reject(new Error(`graphql-sse: ${JSON.stringify(r.errors)}`));
          out.push(r.data);
        },
        error: (e) => reject(new Error(`graphql-sse: ${e?.message ?? JSON.stringify(e)}`)),
        complete: () => resolve(out),
      });
    });
  } finally {
    client.dispose();
  }
}

/** Legacy `graphql-ws` subprotocol via subscriptions-transport-ws. */
export async function legacySubscribe(server, query, variables) {
  const client = new SubscriptionClient(server.wsURL, { reconnect: false, lazy: true }, WebSocket);
  try {
    return await new Promise((resolve, reject) => {
      const out = [];
      client.request({ query, variables }).subscribe({
        next: (r) => {
          if (r.errors?.length) return reject(new Error(`subscriptions-transport-ws: ${JSON.stringify(r.errors)}`));
          out.push(r.data);
        },
        error: (e) => reject(new Error(`subscriptions-transport-ws: ${e?.message ?? JSON.stringify(e)}`)),
        complete: () => resolve(out),
      });
    });
  } finally {
    client.close(true);
  }
}
