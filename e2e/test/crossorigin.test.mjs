// Issue 11, in a real browser: pages on other origins (an HTML form post, no-cors fetches, a
// WebSocket) change nothing; a same-origin page and a page on an allowed origin work.
// The pages come from a second local HTTP server on another loopback port. Chromium resolves
// evil.test to 127.0.0.1 too, so the default origins (pages on this machine) meet a "web site".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { chromium } from 'playwright-core';
import { FIXTURE, freePort, gql, sleep, startFakeLLM, startServer, uploadFixture } from './helpers.mjs';

const T = 90_000;
const GENERATE = 'mutation { generateNetwork(input: {numAgents: 5, seed: 1, name: "browser"}) { id } }';
const UPLOAD = 'mutation($file: Upload!) { uploadGraph(file: $file, name: "browser-upload") { network { id nodeCount } } }';
const BLANK = '<!doctype html><html><head><meta charset="utf-8"><title>page</title></head><body></body></html>';

/** A plain HTML page for every path: the "other sites" the browser visits. */
async function startPageServer() {
  const port = await freePort();
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(BLANK);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) };
}

async function counts(server) {
  const d = await gql(server.httpURL, '{ networks { totalCount } simulations { totalCount } }');
  return { networks: d.networks.totalCount, runs: d.simulations.totalCount };
}

// --- In-page actions (run by page.evaluate in the page's own origin) ---

/** Posts HTML forms into an iframe, the way a hostile page posts without any script access to the answer. */
async function postForms({ api, forms, graph }) {
  const frame = document.createElement('iframe');
  frame.name = 'sink';
  document.body.append(frame);
  for (const f of forms) {
    const form = document.createElement('form');
    form.method = 'POST';
    form.action = api;
    form.enctype = f.enctype;
    form.target = 'sink';
    for (const [name, value] of Object.entries(f.fields)) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      input.value = value;
      form.append(input);
    }
    if (f.file) { // the fixture as the upload's file part, as a user-chosen file would be sent
      const input = document.createElement('input');
      input.type = 'file';
      input.name = '0';
      const dt = new DataTransfer();
      dt.items.add(new File([graph], 'network.json', { type: 'application/json' }));
      input.files = dt.files;
      form.append(input);
    }
    document.body.append(form);
    const loaded = new Promise((r) => frame.addEventListener('load', r, { once: true }));
    form.submit();
    await loaded;
    form.remove();
  }
  // Same-origin frames can be read: the caller asserts on them.
  try { return frame.contentDocument?.body?.innerText ?? null; } catch { return null; }
}

/** fetch() calls; no-cors ones get opaque answers, so only the server's state tells what happened. */
async function fetches({ api, calls, graph }) {
  const out = [];
  for (const c of calls) {
    let body;
    if (c.kind === 'upload') {
      body = new FormData();
      body.append('operations', JSON.stringify({ query: c.query, variables: { file: null } }));
      body.append('map', JSON.stringify({ 0: ['variables.file'] }));
      body.append('0', new File([graph], 'network.json', { type: 'application/json' }));
    } else if (c.kind === 'form') {
      body = new FormData();
      body.append('operations', JSON.stringify({ query: c.query }));
      body.append('map', '{}');
    } else if (c.kind === 'urlencoded') {
      body = new URLSearchParams({ query: c.query });
    } else {
      body = JSON.stringify({ query: c.query });
    }
    try {
      const r = await fetch(api, { method: 'POST', mode: c.mode, body, headers: c.headers ?? {} });
      out.push({ type: r.type, status: r.status, text: r.type === 'opaque' ? null : await r.text() });
    } catch (e) {
      out.push({ error: String(e) });
    }
  }
  return out;
}

/** A graphql-transport-ws connection running one operation; resolves with what happened. */
function websocketRun({ url, query }) {
  return new Promise((resolve) => {
    const events = [];
    let ws;
    try { ws = new WebSocket(url, 'graphql-transport-ws'); } catch (e) { resolve({ events: ['throw ' + e] }); return; }
    const done = (why) => { events.push(why); try { ws.close(); } catch {} resolve({ events }); };
    const timer = setTimeout(() => done('timeout'), 8000);
    ws.onopen = () => { events.push('open'); ws.send(JSON.stringify({ type: 'connection_init', payload: {} })); };
    ws.onerror = () => events.push('error');
    ws.onclose = (e) => { clearTimeout(timer); events.push('close ' + e.code); resolve({ events }); };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      events.push(msg.type);
      if (msg.type === 'connection_ack') ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
      if (msg.type === 'next') events.push(JSON.stringify(msg.payload));
      if (msg.type === 'complete' || msg.type === 'error') { clearTimeout(timer); done('done'); }
    };
  });
}

// Each setup: the server's CORS_ALLOWED_ORIGINS and the origins of the two kinds of page.
const setups = [
  {
    name: 'default origins (pages on this machine)',
    env: () => ({ CORS_ALLOWED_ORIGINS: '' }),
    foreign: (p) => `http://evil.test:${p}`, // a web site
    allowed: (p) => `http://localhost:${p}`, // a front end in development
  },
  {
    name: 'explicit origins',
    env: (p) => ({ CORS_ALLOWED_ORIGINS: `http://localhost:${p}` }),
    foreign: (p) => `http://127.0.0.1:${p}`, // another loopback port, not listed
    allowed: (p) => `http://localhost:${p}`,
  },
];

describe('cross-origin pages in Chromium', () => {
  let llm, pages, browser, graph;

  before(async () => {
    graph = fs.readFileSync(FIXTURE, 'utf8');
    llm = await startFakeLLM({ delayMs: 20 });
    pages = await startPageServer();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
        '--host-resolver-rules=MAP evil.test 127.0.0.1'],
      timeout: 30_000,
    });
  }, { timeout: T });

  after(async () => {
    await browser?.close();
    await pages?.close();
    await llm?.close();
  });

  for (const setup of setups) {
    describe(setup.name, () => {
      let server, networkId;

      before(async () => {
        server = await startServer({ llmBaseURL: llm.baseURL, name: 'ethox-xorigin', workers: 1, env: setup.env(pages.port) });
        networkId = (await uploadFixture(server.httpURL, 'target')).id;
      }, { timeout: T });

      after(async () => {
        const tail = server?.logTail();
        const exit = await server?.stop();
        if (exit && exit.code !== 0 && exit.sig !== 'SIGTERM') console.error(`server exit ${JSON.stringify(exit)}:\n${tail}`);
      });

      /** A page at origin/path, recording every answer from the API (bodies read at once: a
       * form's frame navigates away from the previous one). */
      async function openPage(origin) {
        const page = await browser.newPage();
        const answers = [];
        page.on('response', (r) => {
          if (r.url().startsWith(server.httpURL) && r.request().method() === 'POST') {
            answers.push({ url: r.url(), status: r.status(), body: r.text().catch(() => null) });
          }
        });
        await page.goto(`${origin}/page.html`, { waitUntil: 'load', timeout: 20_000 });
        return { page, answers };
      }

      test('a page on another origin changes nothing', { timeout: T }, async () => {
        const foreign = setup.foreign(pages.port);
        const before = await counts(server);
        const { page, answers } = await openPage(foreign);
        try {
          await page.evaluate(postForms, {
            api: server.httpURL, graph,
            forms: [
              { enctype: 'multipart/form-data', fields: { operations: JSON.stringify({ query: GENERATE }), map: '{}' } },
              { enctype: 'multipart/form-data', fields: { operations: JSON.stringify({ query: `mutation { deleteNetwork(id: "${networkId}") { deletedId } }` }), map: '{}' } },
              { enctype: 'multipart/form-data', file: true, fields: { operations: JSON.stringify({ query: UPLOAD, variables: { file: null } }), map: '{"0":["variables.file"]}' } },
              // The classic JSON-in-text/plain form: {"query":"…","x":"="}
              { enctype: 'text/plain', fields: { [`{"query":${JSON.stringify(GENERATE)},"x":"`]: '"}' } },
              { enctype: 'application/x-www-form-urlencoded', fields: { query: GENERATE } },
            ],
          });
          const fetched = await page.evaluate(fetches, {
            api: server.httpURL, graph,
            calls: [
              { mode: 'no-cors', kind: 'upload', query: UPLOAD },
              { mode: 'no-cors', kind: 'form', query: 'mutation { runSimulation(input: {trigger: "from another site", rounds: 1}) { id } }' },
              { mode: 'no-cors', kind: 'form', query: `mutation { deleteNetwork(id: "${networkId}") { deletedId } }` },
              { mode: 'no-cors', kind: 'urlencoded', query: GENERATE },
              { mode: 'no-cors', kind: 'text', query: GENERATE },
              // A CORS request is preflighted and refused by the browser: never sent.
              { mode: 'cors', kind: 'json', query: GENERATE, headers: { 'content-type': 'application/json' } },
            ],
          });
          assert.equal(fetched.length, 6);
          assert.ok(fetched.slice(0, 5).every((f) => f.type === 'opaque'), JSON.stringify(fetched));
          assert.match(fetched[5].error ?? '', /Failed to fetch/, 'the CORS request must fail');
          const ws = await page.evaluate(websocketRun, { url: server.wsURL, query: GENERATE });
          assert.ok(!ws.events.includes('open'), `WebSocket from ${foreign} opened: ${ws.events}`);

          // The browser did send the simple requests (it is their answer that is withheld): all 403.
          await sleep(200);
          assert.equal(answers.length, 10, `answers: ${answers.map((a) => a.status)}`);
          let bodies = 0;
          for (const a of answers) {
            assert.equal(a.status, 403, `${a.url} answered ${a.status}`);
            const text = await a.body;
            if (text === null) continue;
            const body = JSON.parse(text);
            assert.equal(body.errors[0].extensions.code, 'FORBIDDEN', text);
            assert.match(body.errors[0].message, /CORS_ALLOWED_ORIGINS/);
            bodies++;
          }
          assert.ok(bodies > 0, 'no answer body could be read');
        } finally {
          await page.close();
        }
        assert.deepEqual(await counts(server), before, 'a foreign page changed data');
        const still = await gql(server.httpURL, 'query($id: ID!) { node(id: $id) { id } }', { id: networkId });
        assert.equal(still.node?.id, networkId, 'the network was deleted');
        assert.match(fs.readFileSync(`${server.dir}/server.log`, 'utf8'), /cross-origin request refused/);
      });

      test('a page on an allowed origin works', { timeout: T }, async () => {
        const before = await counts(server);
        const { page, answers } = await openPage(setup.allowed(pages.port));
        try {
          const fetched = await page.evaluate(fetches, {
            api: server.httpURL, graph,
            calls: [
              { mode: 'cors', kind: 'json', query: GENERATE, headers: { 'content-type': 'application/json' } },
              // Apollo's upload link: multipart with its preflight header.
              { mode: 'cors', kind: 'upload', query: UPLOAD, headers: { 'Apollo-Require-Preflight': 'true', 'X-Apollo-Operation-Name': 'Upload' } },
            ],
          });
          for (const f of fetched) {
            assert.equal(f.status, 200, JSON.stringify(f));
            assert.ok(!JSON.parse(f.text).errors, f.text);
          }
          await page.evaluate(postForms, {
            api: server.httpURL, graph,
            forms: [{ enctype: 'multipart/form-data', fields: { operations: JSON.stringify({ query: GENERATE }), map: '{}' } }],
          });
          const ws = await page.evaluate(websocketRun, { url: server.wsURL, query: GENERATE });
          assert.ok(ws.events.includes('open') && ws.events.includes('next'), `WebSocket: ${ws.events}`);
          await sleep(200);
          assert.equal(answers.length, 3);
          for (const a of answers) assert.equal(a.status, 200, `${a.url} answered ${a.status}`);
        } finally {
          await page.close();
        }
        const now = await counts(server);
        assert.equal(now.networks, before.networks + 4);
      });

      test('a same-origin page works', { timeout: T }, async () => {
        const before = await counts(server);
        const page = await browser.newPage();
        try {
          await page.goto(`${server.url}/healthz`, { waitUntil: 'load', timeout: 20_000 });
          const fetched = await page.evaluate(fetches, {
            api: '/query', graph,
            calls: [
              { mode: 'same-origin', kind: 'upload', query: UPLOAD },
              { mode: 'same-origin', kind: 'form', query: GENERATE },
            ],
          });
          for (const f of fetched) {
            assert.equal(f.status, 200, JSON.stringify(f));
            assert.ok(!JSON.parse(f.text).errors, f.text);
          }
          const framed = await page.evaluate(postForms, {
            api: `${server.url}/query`, graph,
            forms: [{ enctype: 'multipart/form-data', fields: { operations: JSON.stringify({ query: GENERATE }), map: '{}' } }],
          });
          assert.match(framed ?? '', /"generateNetwork"/);
          const ws = await page.evaluate(websocketRun, { url: server.wsURL, query: GENERATE });
          assert.ok(ws.events.includes('open') && ws.events.includes('next'), `WebSocket: ${ws.events}`);
        } finally {
          await page.close();
        }
        const now = await counts(server);
        assert.equal(now.networks, before.networks + 4);
      });
    });
  }
});
