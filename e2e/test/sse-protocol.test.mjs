// graphql-sse PROTOCOL.md against the built server: the reference `graphql-sse`
// client in distinct connections mode and in single connection mode (PUT
// reservation, one stream, POSTed operations, DELETE), and Chromium's native
// EventSource on a GET subscription and on a reserved stream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-sse';
import { chromium } from 'playwright-core';
import {
  assertEvents, gql, sleep, startFakeLLM, startServer, uploadFixture, waitForSteps, withTimeout,
} from './helpers.mjs';
import { EVENTS_SUB } from './clients.mjs';

const T = 60_000;

/** Collects every result of one operation through client.iterate. */
async function collect(client, query, variables) {
  const out = [];
  for await (const r of client.iterate({ query, variables })) {
    assert.ok(!r.errors?.length, `errors: ${JSON.stringify(r.errors)}`);
    out.push(r.data);
  }
  return out;
}

describe('graphql-sse protocol (SQLite)', () => {
  let llm, server, runId;

  before(async () => {
    llm = await startFakeLLM({ delayMs: 100 });
    server = await startServer({ llmBaseURL: llm.baseURL, name: 'ethox-sse' });
    await uploadFixture(server.httpURL);
    const d = await gql(server.httpURL, 'mutation { runSimulation(input: {trigger: "SSE protocol", rounds: 1}) { id } }');
    runId = d.runSimulation.id;
    await waitForSteps(server.httpURL, runId, 3);
  }, { timeout: T });

  after(async () => {
    await server?.stop();
    await llm?.close();
  });

  test('distinct connections: a query and a replayed subscription', { timeout: T }, async () => {
    const client = createClient({ url: server.httpURL, retryAttempts: 0 });
    try {
      const q = await collect(client, '{ graph { metadata { nodeCount } } }');
      assert.deepEqual(q, [{ graph: { metadata: { nodeCount: 20 } } }]);
      const events = await withTimeout(collect(client, EVENTS_SUB, { id: runId, after: 2 }), 45_000, 'distinct subscription');
      assertEvents('graphql-sse distinct', events);
    } finally {
      client.dispose();
    }
  });

  test('single connection: one reservation carries concurrent operations, completed and stopped', { timeout: T }, async () => {
    const messages = [];
    const requests = []; // [method, status] of every request the client makes
    const client = createClient({
      url: server.httpURL, singleConnection: true, retryAttempts: 0,
      on: { message: (m) => messages.push(m) },
      fetchFn: async (url, init) => {
        const res = await fetch(url, init);
        requests.push([init.method, res.status]);
        return res;
      },
    });
    try {
      // Three operations at once on the one stream; the query and the
      // subscription complete on the server's side.
      const [q, events, q2] = await withTimeout(Promise.all([
        collect(client, '{ graph { metadata { nodeCount edgeCount } } }'),
        collect(client, EVENTS_SUB, { id: runId, after: 2 }),
        collect(client, 'query($id: ID!) { simulation(id: $id) { id } }', { id: runId }),
      ]), 45_000, 'single connection operations');
      assert.deepEqual(q, [{ graph: { metadata: { nodeCount: 20, edgeCount: 52 } } }]);
      assertEvents('graphql-sse single connection', events);
      assert.equal(q2[0].simulation.id, runId);
      // Every message names its operation; each operation has one complete.
      const ids = new Set(messages.map((m) => m.data.id));
      assert.equal(ids.size, 3);
      assert.equal(messages.filter((m) => m.event === 'complete').length, 3);

      // A subscription the client stops early (DELETE ?operationId=) ends
      // without ending the stream; a long run keeps it open meanwhile.
      const long = await gql(server.httpURL, 'mutation { runSimulation(input: {trigger: "long", rounds: 20}) { id } }');
      try {
        const it = client.iterate({ query: EVENTS_SUB, variables: { id: long.runSimulation.id } });
        const first = await withTimeout(it.next(), 15_000, 'first event');
        assert.equal(first.value.data.simulationEvents.seq, 1);
        await it.return();
        for (let i = 0; i < 100 && !requests.some(([m]) => m === 'DELETE'); i++) await sleep(50);
      } finally {
        await gql(server.httpURL, 'mutation($id: ID!) { cancelSimulation(id: $id) { id } }', { id: long.runSimulation.id });
      }
      const again = await collect(client, '{ graph { metadata { nodeCount } } }');
      assert.deepEqual(again, [{ graph: { metadata: { nodeCount: 20 } } }]);
      // One reservation and one stream for everything (the lazy client keeps
      // it while operations overlap), each operation accepted with 202, the
      // early stop a DELETE answered 200.
      const count = (method, status) => requests.filter(([m, s]) => m === method && s === status).length;
      assert.equal(count('POST', 202), 5, JSON.stringify(requests));
      assert.equal(count('DELETE', 200), 1, JSON.stringify(requests));
      assert.ok(count('PUT', 201) >= 1 && count('PUT', 201) === count('GET', 200), JSON.stringify(requests));
      assert.equal(requests.filter(([, s]) => s >= 300).length, 0, JSON.stringify(requests));
    } finally {
      client.dispose();
    }
  });

  test('native EventSource in Chromium: GET subscription and a reserved stream', { timeout: T }, async () => {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
      timeout: 30_000,
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/healthz`); // same origin as /query
      const distinct = await page.evaluate(async ({ query, id }) => {
        const url = `/query?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify({ id, after: 2 }))}`;
        return new Promise((resolve, reject) => {
          const es = new EventSource(url);
          const seqs = [];
          es.addEventListener('next', (e) => seqs.push(JSON.parse(e.data).data.simulationEvents.seq));
          // Fires only because the complete event has a data line.
          es.addEventListener('complete', () => { es.close(); resolve(seqs); });
          es.onerror = () => { es.close(); reject(new Error(`EventSource error after ${seqs.length} events`)); };
        });
      }, { query: EVENTS_SUB, id: runId });
      assert.deepEqual(distinct, Array.from({ length: 44 }, (_, i) => i + 3));

      const reserved = await page.evaluate(async () => {
        const put = await fetch('/query', { method: 'PUT' });
        const token = await put.text();
        const es = new EventSource(`/query?token=${encodeURIComponent(token)}`);
        await new Promise((r) => { es.onopen = r; });
        const got = new Promise((resolve) => {
          const seen = [];
          es.addEventListener('next', (e) => seen.push(['next', JSON.parse(e.data)]));
          es.addEventListener('complete', (e) => { seen.push(['complete', JSON.parse(e.data)]); es.close(); resolve(seen); });
        });
        const post = await fetch('/query', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-graphql-event-stream-token': token },
          body: JSON.stringify({ query: '{ graph { metadata { nodeCount } } }', extensions: { operationId: 'op-1' } }),
        });
        return { put: put.status, putType: put.headers.get('content-type'), post: post.status, seen: await got };
      });
      assert.equal(reserved.put, 201);
      assert.match(reserved.putType, /^text\/plain/);
      assert.equal(reserved.post, 202);
      assert.deepEqual(reserved.seen, [
        ['next', { id: 'op-1', payload: { data: { graph: { metadata: { nodeCount: 20 } } } } }],
        ['complete', { id: 'op-1' }],
      ]);
    } finally {
      await browser.close();
    }
  });
});
