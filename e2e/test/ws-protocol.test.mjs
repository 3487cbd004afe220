// Issue 13: graphql-transport-ws as graphql-ws's PROTOCOL.md says (graphql-ws 6.4.2, the version pinned in
// package.json). The reference client drives subscribe, next, complete and error; raw frames (the `ws`
// package) drive what a conforming client never sends, and the close codes that answer it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { gql, startFakeLLM, startServer, uploadFixture, withTimeout } from './helpers.mjs';

const T = 120_000;
const PROGRESS = 'subscription($id: ID!) { simulationProgress(id: $id) { status completedSteps } }';

/** Opens a raw socket offering protocols; resolves once open. */
function rawSocket(url, protocols = ['graphql-transport-ws']) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const messages = [];
    const closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
    ws.on('open', () => resolve({ ws, messages, closed }));
    ws.on('error', reject);
  });
}

/** Waits until a message matching pred arrived on a raw socket. */
async function waitFor(sock, pred, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = sock.messages.find(pred);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(sock.messages)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Subscribes with the reference client; resolves with { results, error } when the operation ends. */
function run(client, query, variables) {
  return new Promise((resolve) => {
    const results = [];
    client.subscribe({ query, variables }, {
      next: (r) => results.push(r),
      error: (error) => resolve({ results, error }),
      complete: () => resolve({ results }),
    });
  });
}

describe('graphql-transport-ws (graphql-ws PROTOCOL.md)', () => {
  let llm, server, client, runId;

  before(async () => {
    llm = await startFakeLLM({ delayMs: 150 });
    server = await startServer({ llmBaseURL: llm.baseURL, name: 'ethox-ws', workers: 2 });
    await uploadFixture(server.httpURL);
    client = createClient({ url: server.wsURL, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
  }, { timeout: T });

  after(async () => {
    await client?.dispose();
    const tail = server?.logTail();
    const exit = await server?.stop();
    if (exit && exit.code !== 0 && exit.sig !== 'SIGTERM') console.error(`server exit ${JSON.stringify(exit)}:\n${tail}`);
    await llm?.close();
  });

  test('reference client: a query is one next, then complete', { timeout: T }, async () => {
    const { results, error } = await withTimeout(run(client, '{ graph { metadata { nodeCount edgeCount } } }'), 15_000, 'query');
    assert.equal(error, undefined);
    assert.deepEqual(results, [{ data: { graph: { metadata: { nodeCount: 20, edgeCount: 52 } } } }]);
  });

  test('reference client: a validation or parse error reaches error() as GraphQL errors, without complete', { timeout: T }, async () => {
    for (const query of ['{ noSuchField }', '{ graph {']) {
      const { results, error } = await withTimeout(run(client, query), 15_000, query);
      assert.deepEqual(results, [], query);
      assert.ok(Array.isArray(error), `${query}: error() got ${JSON.stringify(error)}`);
      assert.equal(error[0].extensions?.code, 'BAD_USER_INPUT', query);
    }
  });

  test('reference client: a live subscription, and complete from the client stops only that one', { timeout: T }, async () => {
    const started = await gql(server.httpURL, 'mutation { runSimulation(input: {trigger: "WS protocol", rounds: 2}) { id } }');
    runId = started.runSimulation.id;
    let stoppedAfter = null;
    const seenA = [];
    const a = client.subscribe({ query: PROGRESS, variables: { id: runId } }, {
      next: (r) => { seenA.push(r); if (seenA.length === 1) { stoppedAfter = 1; a(); } },
      error: (e) => assert.fail(`a: ${JSON.stringify(e)}`),
      complete: () => {},
    });
    const b = await withTimeout(run(client, PROGRESS, { id: runId }), 60_000, 'b to the end of the run');
    assert.equal(b.error, undefined);
    assert.equal(b.results.at(-1).data.simulationProgress.status, 'SUCCEEDED');
    assert.ok(b.results.length >= 2, `b got ${b.results.length} results`);
    assert.equal(seenA.length, stoppedAfter, 'a got nothing after the client completed it');
  });

  test('both subprotocols offered: graphql-transport-ws is chosen, in either order', { timeout: T }, async () => {
    for (const offer of [['graphql-ws', 'graphql-transport-ws'], ['graphql-transport-ws', 'graphql-ws']]) {
      const s = await rawSocket(server.wsURL, offer);
      assert.equal(s.ws.protocol, 'graphql-transport-ws', offer.join());
      s.ws.close(1000);
    }
  });

  // Each row: frames sent after the socket opens, then the close the server must answer with.
  const INIT = { type: 'connection_init' };
  const Q = { query: '{ __typename }' };
  const rows = [
    ['invalid message type', [INIT, { type: 'hello' }], 4400],
    ['non-JSON frame', [INIT, '{not json'], 4400],
    ['legacy start', [INIT, { id: '1', type: 'start', payload: Q }], 4400],
    ['subscribe without id', [INIT, { type: 'subscribe', payload: Q }], 4400],
    ['subscribe without payload.query', [INIT, { id: '1', type: 'subscribe', payload: { variables: {} } }], 4400],
    ['second connection_init', [INIT, INIT], 4429, 'Too many initialisation requests'],
    ['subscribe before the ack', [{ id: '1', type: 'subscribe', payload: Q }], 4401, 'Unauthorized'],
    ['connection_init payload not an object', [{ type: 'connection_init', payload: 'token' }], 4400],
    ['no connection_init within the timeout (10 s)', [], 4408, 'Connection initialisation timeout'],
  ];
  test('raw frames: every invalid case closes with its PROTOCOL.md code', { timeout: T }, async () => {
    // In parallel: the init timeout row alone takes 10 s.
    await Promise.all(rows.map(async ([name, frames, code, reason]) => {
      const s = await rawSocket(server.wsURL);
      for (const f of frames) s.ws.send(typeof f === 'string' ? f : JSON.stringify(f));
      const closed = await withTimeout(s.closed, 20_000, name);
      assert.equal(closed.code, code, `${name}: closed ${JSON.stringify(closed)}`);
      if (reason) assert.equal(closed.reason, reason, name);
      for (const m of s.messages) assert.ok(['connection_ack', 'ping'].includes(m.type), `${name}: got ${JSON.stringify(m)}`);
    }));
  });

  test('raw frames: duplicate id while the first runs closes with 4409', { timeout: T }, async () => {
    const started = await gql(server.httpURL, 'mutation { runSimulation(input: {trigger: "WS duplicate", rounds: 2}) { id } }');
    const s = await rawSocket(server.wsURL);
    const sub = JSON.stringify({ id: 'dup', type: 'subscribe', payload: { query: PROGRESS, variables: { id: started.runSimulation.id } } });
    s.ws.send(JSON.stringify(INIT));
    s.ws.send(sub);
    await waitFor(s, (m) => m.type === 'next' && m.id === 'dup', 'first next');
    s.ws.send(sub);
    const closed = await withTimeout(s.closed, 10_000, '4409');
    assert.deepEqual(closed, { code: 4409, reason: 'Subscriber for dup already exists' });
  });

  test('raw frames: ping gets pong with its payload; an error message is not followed by complete', { timeout: T }, async () => {
    const s = await rawSocket(server.wsURL);
    s.ws.send(JSON.stringify(INIT));
    await waitFor(s, (m) => m.type === 'connection_ack', 'ack');
    s.ws.send(JSON.stringify({ type: 'ping', payload: { n: 1 } }));
    assert.deepEqual(await waitFor(s, (m) => m.type === 'pong', 'pong'), { type: 'pong', payload: { n: 1 } });
    s.ws.send(JSON.stringify({ id: 'e', type: 'subscribe', payload: { query: '{ noSuchField }' } }));
    const err = await waitFor(s, (m) => m.type === 'error', 'error');
    assert.equal(err.id, 'e');
    assert.ok(Array.isArray(err.payload) && err.payload[0].message.includes('noSuchField'), JSON.stringify(err));
    s.ws.send(JSON.stringify({ type: 'ping', payload: { n: 2 } }));
    await waitFor(s, (m) => m.type === 'pong' && m.payload?.n === 2, 'second pong');
    assert.equal(s.messages.filter((m) => m.type === 'complete').length, 0, JSON.stringify(s.messages));
    s.ws.close(1000);
  });

  test('legacy graphql-ws: an unknown message type gets an error, not "server shutting down", and the socket stays', { timeout: T }, async () => {
    const s = await rawSocket(server.wsURL, ['graphql-ws']);
    assert.equal(s.ws.protocol, 'graphql-ws');
    s.ws.send(JSON.stringify(INIT));
    await waitFor(s, (m) => m.type === 'connection_ack', 'ack');
    s.ws.send(JSON.stringify({ id: '9', type: 'subscribe', payload: Q }));
    const err = await waitFor(s, (m) => m.type === 'error' && m.id === '9', 'error');
    assert.doesNotMatch(JSON.stringify(err), /shutting down/);
    s.ws.send(JSON.stringify({ id: '1', type: 'start', payload: Q }));
    const data = await waitFor(s, (m) => m.type === 'data' && m.id === '1', 'data');
    assert.deepEqual(data.payload, { data: { __typename: 'Query' } });
    s.ws.close(1000);
  });
});
