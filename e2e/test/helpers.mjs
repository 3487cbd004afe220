// Shared helpers for the Ethox end-to-end tests: fake LLM, server processes, GraphQL over HTTP.
import { spawn, execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(E2E_DIR, '..');
// The repository's test data (testdata/README.md), the same file the Go tests read.
export const FIXTURE = path.resolve(REPO_ROOT, 'testdata', 'ethox-network-20.json');
export const ARTIFACTS = path.join(E2E_DIR, 'artifacts');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects after ms with a clear message unless p settles first. */
export function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms); }),
  ]).finally(() => clearTimeout(t));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const LLM_ANSWER = JSON.stringify({
  id: 'x', object: 'chat.completion', created: 0, model: 'm',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: '{"opinion":"ok","care":5,"change_in_support":1}' } }],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
});

/** A tiny OpenAI-compatible chat completions server that answers after a fixed delay. */
export async function startFakeLLM({ delayMs = 200 } = {}) {
  let calls = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.method === 'POST' && req.url.startsWith('/v1/chat/completions')) {
        calls++;
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(LLM_ANSWER);
        }, delayMs);
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"not found"}}');
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    get calls() { return calls; },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

let builtBin;
/** The server binary: $ETHOX_BIN (set by run.sh) or built once into a temp dir. */
export function ethoxBin() {
  if (process.env.ETHOX_BIN) return process.env.ETHOX_BIN;
  if (!builtBin) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ethox-e2e-bin-'));
    builtBin = path.join(dir, 'ethox');
    execFileSync('go', ['build', '-o', builtBin, '.'], { cwd: REPO_ROOT, env: { ...process.env, CGO_ENABLED: '0' }, stdio: 'inherit', timeout: 300_000 });
  }
  return builtBin;
}

const children = new Set();
function killAll() { for (const c of children) { try { c.kill('SIGKILL'); } catch {} } }
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

/** Starts an Ethox server in a fresh temp working dir and waits for /readyz; env adds or overrides settings. */
export async function startServer({ llmBaseURL, databaseURL = '', workers = 4, name = 'ethox', readyTimeoutMs = 30_000, env: extraEnv = {} } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const port = await freePort();
  const logPath = path.join(dir, 'server.log');
  const log = fs.openSync(logPath, 'a');
  const env = {
    ...process.env,
    HOST: '127.0.0.1', PORT: String(port), DATABASE_URL: databaseURL, DEMO_DATA: 'false',
    WORKERS: String(workers), OPENAI_BASE_URL: llmBaseURL, OPENAI_API_KEY: 'test', LLM_CONCURRENCY: '8',
    ...extraEnv,
  };
  const proc = spawn(ethoxBin(), [], { cwd: dir, env, stdio: ['ignore', log, log] });
  children.add(proc);
  let exited = null;
  const exitP = new Promise((r) => proc.on('exit', (code, sig) => { exited = { code, sig }; children.delete(proc); r(exited); }));
  const url = `http://127.0.0.1:${port}`;
  const logTail = () => { try { return fs.readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n'); } catch { return ''; } };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) throw new Error(`${name} exited early (${JSON.stringify(exited)}):\n${logTail()}`);
    try {
      const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`${name} not ready within ${readyTimeoutMs} ms:\n${logTail()}`); }
    await sleep(100);
  }
  return {
    url, port, dir, logTail,
    httpURL: `${url}/query`,
    wsURL: `ws://127.0.0.1:${port}/query`,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exitP;
        clearTimeout(t);
      }
      fs.closeSync(log);
      // Keep the working dir (database, server.log) only when the exit was unclean or E2E_KEEP=1.
      const clean = exited.code === 0 || exited.sig === 'SIGTERM';
      if (clean && process.env.E2E_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
}

/** Plain GraphQL POST; throws on HTTP or GraphQL errors. */
export async function gql(httpURL, query, variables = {}) {
  const r = await fetch(httpURL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${text}`);
  const body = JSON.parse(text);
  if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

export const UPLOAD_MUTATION = 'mutation($file: Upload!, $name: String) { uploadGraph(file: $file, name: $name) { network { id nodeCount edgeCount } } }';

/** Uploads the fixture with a GraphQL multipart request (built-in FormData/fetch). */
export async function uploadFixture(httpURL, name = 'e2e-network-20') {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: UPLOAD_MUTATION, variables: { file: null, name } }));
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', new Blob([fs.readFileSync(FIXTURE)], { type: 'application/json' }), path.basename(FIXTURE));
  const r = await fetch(httpURL, { method: 'POST', body: form, signal: AbortSignal.timeout(30_000) });
  const text = await r.text();
  if (!r.ok) throw new Error(`upload HTTP ${r.status}: ${text}`);
  const body = JSON.parse(text);
  if (body.errors?.length) throw new Error(`upload errors: ${JSON.stringify(body.errors)}`);
  return body.data.uploadGraph.network;
}

/** Polls simulation progress until completedSteps >= n (and the run is not yet over, ideally). */
export async function waitForSteps(httpURL, id, n, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await gql(httpURL, 'query($id: ID!) { simulation(id: $id) { status progress { completedSteps totalSteps } } }', { id });
    if (d.simulation.progress.completedSteps >= n) return d.simulation;
    if (Date.now() > deadline) throw new Error(`run ${id} did not reach ${n} steps: ${JSON.stringify(d)}`);
    await sleep(30);
  }
}

export const TOTAL_EVENTS = 46; // 20 agents, rounds 1

/** Asserts a simulationEvents stream replayed from after=2 is seq 3..46, each once, in order, ending with FINISHED. */
export function assertEvents(label, payloads) {
  const events = payloads.map((p) => p.simulationEvents);
  const seqs = events.map((e) => e.seq);
  const expected = Array.from({ length: TOTAL_EVENTS - 2 }, (_, i) => i + 3);
  assert.deepEqual(seqs, expected, `${label}: seqs`);
  assert.equal(events.at(-1).type, 'FINISHED', `${label}: last type`);
  assert.equal(events.filter((e) => e.type === 'AGENT_UPDATED').length, 40, `${label}: AGENT_UPDATED count`);
}
