import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatusReport } from './destinationStatus.ts';
import { renderEventPage, renderStatusPage } from './statusPage.ts';

test('the status page escapes what it shows and refreshes itself', () => {
  const report: StatusReport = {
    at: '2026-01-01T00:00:00.000Z',
    observedAt: 0,
    retryBacklog: { '30s': 2 },
    destinations: [
      {
        destination: 'crm<script>',
        state: 'paused',
        reason: 'auth (HTTP 401)',
        deliveriesPerMinute: 0,
        attempts: 1,
        backlog: 3,
        oldestUndeliveredMs: 90_000,
        dlqDepth: 0,
        deadLettersInWindow: 0,
        lastError: { at: '2026-01-01T00:00:00.000Z', status: 401, outcome: 'paused' },
      },
    ],
  };
  const html = renderStatusPage(report, { refreshSeconds: 5 });
  assert.match(html, /http-equiv="refresh" content="5"/);
  assert.ok(!html.includes('<script>'));
  assert.match(html, /crm&#60;script&#62;/);
  assert.match(html, /HTTP 401/);
  assert.match(html, /1\.5 min/);
});

test('an unknown event is a not-found page', () => {
  const page = renderEventPage('nope"', { destinations: {}, attempts: [] }, {});
  assert.equal(page.found, false);
  assert.match(page.html, /nope&#34;/);
});
