// Issue 13: the graphql-http package's server audits (GraphQL-over-HTTP draft) against the
// built server, in development (open API) and in production (tokens, CORS list, limits on).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { startFakeLLM, startServer } from './helpers.mjs';

const T = 60_000;
const TOKEN = 'audit-admin-token-0123456789';

// Deliberate exceptions, each MAY-level (none so far): audit id -> reason.
const EXCEPTIONS = {};

function runAudits(name, env, headers = {}) {
  describe(`graphql-http serverAudits (${name})`, { timeout: T }, () => {
    let llm, server;
    before(async () => {
      llm = await startFakeLLM();
      server = await startServer({ llmBaseURL: llm.baseURL, name: `ethox-audit-${name}`, env });
    });
    after(async () => {
      await server?.stop();
      await llm?.close();
    });
    test('every audit is ok', async () => {
      const fetchFn = (input, init = {}) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers ?? {})), ...headers } });
      const audits = serverAudits({ url: server.httpURL, fetchFn });
      const failed = [];
      const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
      for (const audit of audits) {
        const result = await audit.fn();
        counts[result.status]++;
        if (result.status !== 'ok' && !(audit.id in EXCEPTIONS)) {
          failed.push(`${audit.id} ${audit.name}: ${result.status} ${result.reason}`);
        }
      }
      console.log(`graphql-http audits (${name}): ${JSON.stringify(counts)}`);
      assert.deepEqual(failed, [], failed.join('\n'));
    });
  });
}

runAudits('development', {});
// Three audits (28B9, D6D5, 6A70) pass their variable to `__type(name: $name)`: an
// introspection field, which production refuses by default. Introspection is turned on
// here so that they test variables, not that decision; the rest is production's default.
runAudits('production', {
  ENV: 'production',
  ENABLE_INTROSPECTION: 'true',
  API_TOKENS: `auditor:admin:${TOKEN}`,
  CORS_ALLOWED_ORIGINS: 'https://app.example.com',
}, { authorization: `Bearer ${TOKEN}` });
