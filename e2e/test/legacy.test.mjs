// Issue 14, in a real browser: a stand-in for the prototype's built front end (e2e/fixtures/legacy-frontend),
// served by the server itself from FRONTEND_DIR, makes the prototype client's five REST calls (plain
// same-origin fetch, a multipart upload of a file the user picks, JSON posts) and renders what it gets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ARTIFACTS, E2E_DIR, FIXTURE, gql, startFakeLLM, startServer } from './helpers.mjs';

const T = 120_000;
const APP_DIR = path.join(E2E_DIR, 'fixtures', 'legacy-frontend');
const SCRIPT = '/assets/app-e2e4f1a9.js';

describe('the prototype front end served from FRONTEND_DIR', () => {
  let llm, server, browser;

  before(async () => {
    llm = await startFakeLLM({ delayMs: 20 });
    server = await startServer({ llmBaseURL: llm.baseURL, name: 'ethox-legacy', workers: 2, env: { FRONTEND_DIR: APP_DIR } });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      timeout: 30_000,
    });
  }, { timeout: T });

  after(async () => {
    await browser?.close();
    const tail = server?.logTail();
    const exit = await server?.stop();
    if (exit && exit.code !== 0 && exit.sig !== 'SIGTERM') console.error(`server exit ${JSON.stringify(exit)}:\n${tail}`);
    await llm?.close();
  });

  /** The figures an element rendered (its data-result), once it has some. */
  async function result(page, id) {
    const el = page.locator(`#${id}[data-result]`);
    await el.waitFor({ timeout: 60_000 }).catch(async (e) => {
      throw new Error(`#${id} never rendered (page error: ${await page.locator('#error').textContent()}): ${e.message}`);
    });
    return JSON.parse(await el.getAttribute('data-result'));
  }

  test('upload, graph, node, run and report through the page', { timeout: T }, async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const answers = new Map(); // path → response headers and status, as the browser got them
    page.on('response', (r) => {
      const u = new URL(r.url());
      answers.set(u.pathname, { status: r.status(), headers: r.headers() });
    });

    await page.goto(`${server.url}/`, { waitUntil: 'load', timeout: 20_000 });
    assert.equal(await page.title(), 'Society Explorer (e2e stand-in)');
    const script = answers.get(SCRIPT);
    assert.equal(script?.status, 200, 'the page script loads');
    assert.match(script.headers['content-type'], /^text\/javascript/);
    assert.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable', 'a fingerprinted asset is immutable');
    assert.ok(['gzip', 'br', 'zstd'].includes(script.headers['content-encoding']), `compressed: ${script.headers['content-encoding']}`);
    assert.equal(answers.get('/').headers['cache-control'], 'no-cache');

    // No network yet: an empty graph, not an error.
    await page.click('#load-graph');
    let g = await result(page, 'graph-summary');
    assert.equal(g.metadata.node_count, 0);

    // The user picks the prototype's network.json and uploads it.
    await page.setInputFiles('#file', FIXTURE);
    await page.click('#upload');
    const up = await result(page, 'upload-result');
    assert.equal(up.detail, 'Graph uploaded successfully.');
    assert.deepEqual([up.metadata.node_count, up.metadata.edge_count, up.metadata.trait_keys.length], [20, 52, 15]);

    await page.evaluate(() => { delete document.getElementById('graph-summary').dataset.result; });
    await page.click('#load-graph');
    g = await result(page, 'graph-summary');
    assert.deepEqual([g.nodes, g.edges, g.metadata.node_count], [20, 52, 20]);
    assert.deepEqual(g.idTypes, ['string'], 'network.json ids are strings');
    for (const k of ['agent_id', 'betweenness_centrality', 'cluster', 'degree', 'degree_centrality', 'traits']) {
      assert.ok(g.keys.includes(k), `node field ${k}`);
    }
    const proto = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
    await page.click('#nodes button[data-agent="0"]');
    const d = await result(page, 'node-detail');
    assert.deepEqual(d.node, proto.nodes[0], 'the node comes back as the prototype stored it');
    assert.equal(d.neighbors.length, proto.nodes[0].degree);

    // A run: a fresh population, the LLM's reaction and one influence round; the request waits for it.
    await page.fill('#trigger', 'The city will close the central library on Sundays.');
    await page.fill('#num-agents', '5');
    await page.click('#run');
    const run = await result(page, 'run-result');
    assert.equal(typeof run.simulation_id, 'string');
    for (const stage of ['initial', 'post', 'final']) {
      assert.equal(run[stage].nodes, 5, `${stage} nodes`);
      assert.deepEqual(run[stage].idTypes, ['number'], `${stage}: integer agent ids`);
      if (run[stage].edges > 0) assert.deepEqual(run[stage].edgeIdTypes, ['number'], `${stage}: integer edge ends`);
    }
    for (const k of ['text_opinion', 'level_of_care', 'effect_on_usage', 'initial_opinion', 'initial_level_of_care', 'initial_effect_on_usage']) {
      assert.ok(run.final.keys.includes(k), `final node field ${k}`);
    }
    assert.ok(!run.initial.keys.includes('text_opinion') && !run.post.keys.includes('initial_opinion'));
    assert.equal(run.final.meanCare, 0.5, 'the fake LLM answers care 5, 0.5 on the prototype scale');

    await page.click('#report');
    const rep = await result(page, 'report-result');
    assert.equal(rep.simulation_id, run.simulation_id);
    assert.equal(rep.care_score_100, 50);
    assert.equal(rep.change_in_support_50, 10);
    assert.ok(rep.report_text.length > 0);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'legacy-frontend.png'), fullPage: true });

    // What the page did is ordinary data: GraphQL sees the run, its report and both networks.
    const q = await gql(server.httpURL, `query($id: ID!) { simulation(id: $id) { status engine report { careScore100 } }
      networks { totalCount } }`, { id: run.simulation_id });
    assert.equal(q.simulation.status, 'SUCCEEDED');
    assert.equal(q.simulation.engine, 'LLM');
    assert.equal(q.simulation.report.careScore100, 50);
    assert.equal(q.networks.totalCount, 2, 'the upload and the run\'s population');

    // A client-side route is the app too; GraphiQL has moved to /graphiql; the API is never the app.
    await page.goto(`${server.url}/simulations/42`, { waitUntil: 'load', timeout: 20_000 });
    assert.equal(await page.locator('#route').textContent(), 'route: /simulations/42');
    const ide = await fetch(`${server.url}/graphiql`);
    assert.equal(ide.status, 200);
    assert.match(await ide.text(), /graphiql/i);
    const missing = await fetch(`${server.url}/api/nope/`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { detail: 'Not found.' });

    assert.deepEqual(pageErrors, [], 'no uncaught page errors');
    await page.close();
  });
});
