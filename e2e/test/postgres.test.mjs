// Two server processes sharing one PostgreSQL database: A (WORKERS=0) serves the
// API and the subscriptions, B (WORKERS=4) does the simulation work.
// Skipped when PostgreSQL is not reachable, unless E2E_REQUIRE_POSTGRES=1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  FIXTURE, assertEvents, gql, startFakeLLM, startServer, uploadFixture, waitForSteps, withTimeout,
} from './helpers.mjs';
import {
  EVENTS_SUB, PROGRESS_SUB, apolloClient, apolloSubscribe, legacySubscribe, sseSubscribe, urqlSubscribe,
} from './clients.mjs';

const T = 60_000;
const PG_ADMIN = process.env.E2E_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

function psql(sql) {
  return execFileSync('psql', [PG_ADMIN, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

let skipReason = false;
try { psql('SELECT 1'); } catch (e) {
  skipReason = `PostgreSQL not reachable at ${PG_ADMIN}: ${String(e.stderr || e.message).trim().split('\n')[0]}`;
  if (process.env.E2E_REQUIRE_POSTGRES === '1') throw new Error(skipReason);
}

describe('ethox e2e (PostgreSQL, two processes)', { skip: skipReason }, () => {
  let llm, a, b, apollo, dbName;

  before(async () => {
    assert.ok(fs.existsSync(FIXTURE), `fixture missing: ${FIXTURE}`);
    dbName = `e2e_${crypto.randomBytes(6).toString('hex')}`;
    psql(`CREATE DATABASE ${dbName}`);
    const url = new URL(PG_ADMIN);
    url.pathname = `/${dbName}`;
    if (!url.searchParams.has('sslmode')) url.searchParams.set('sslmode', 'disable');
    llm = await startFakeLLM({ delayMs: 200 });
    a = await startServer({ llmBaseURL: llm.baseURL, databaseURL: url.toString(), workers: 0, name: 'ethox-pg-a' });
    b = await startServer({ llmBaseURL: llm.baseURL, databaseURL: url.toString(), workers: 4, name: 'ethox-pg-b' });
    apollo = apolloClient(a);
  }, { timeout: T });

  after(async () => {
    await apollo?.dispose().catch(() => {});
    await a?.stop();
    await b?.stop();
    await llm?.close();
    if (dbName) {
      try { psql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`); } catch (e) { console.error(`could not drop ${dbName}: ${e.message}`); }
    }
  });

  test('run started and watched through A, executed by B', { timeout: T }, async () => {
    const network = await uploadFixture(a.httpURL);
    assert.equal(network.nodeCount, 20);
    assert.equal(network.edgeCount, 52);

    const started = await gql(a.httpURL, 'mutation { runSimulation(input: {trigger: "E2E test message", rounds: 1}) { id status } }');
    const id = started.runSimulation.id;
    assert.equal(started.runSimulation.status, 'QUEUED');

    await waitForSteps(a.httpURL, id, 3);
    const vars = { id, after: 2 };
    const [viaApollo, viaUrql, viaSse, viaLegacy, progress] = await withTimeout(Promise.all([
      apolloSubscribe(apollo, EVENTS_SUB, vars),
      urqlSubscribe(a, EVENTS_SUB, vars),
      sseSubscribe(a, EVENTS_SUB, vars),
      legacySubscribe(a, EVENTS_SUB, vars),
      apolloSubscribe(apollo, PROGRESS_SUB, { id }),
    ]), 45_000, 'subscriptions to complete');
    assertEvents('apollo/graphql-ws', viaApollo);
    assertEvents('urql/graphql-ws', viaUrql);
    assertEvents('graphql-sse', viaSse);
    assertEvents('subscriptions-transport-ws', viaLegacy);
    const last = progress.at(-1).simulationProgress;
    assert.equal(last.status, 'SUCCEEDED');
    assert.equal(last.completedSteps, 40);

    const d = await gql(a.httpURL, 'query($id: ID!) { simulation(id: $id) { status finalGraph { nodes { agentId textOpinion levelOfCare initialOpinion } } } }', { id });
    assert.equal(d.simulation.status, 'SUCCEEDED');
    assert.equal(d.simulation.finalGraph.nodes.length, 20);
    for (const n of d.simulation.finalGraph.nodes) {
      assert.equal(n.textOpinion, 'ok');
      assert.equal(n.levelOfCare, 0.5);
    }
  });
});
