// The Prometheus rules and the Grafana dashboard shipped in observability/: the rules parse as
// YAML, and every metric their queries name exists in Courier's registry (so a renamed metric
// breaks this test, not an operator's alerting).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { CourierMetrics } from '../src/observability/metrics.ts';
import { PAUSE_REASONS } from '../src/policy/failures.ts';

const dir = new URL('../observability/', import.meta.url);

async function knownMetrics(): Promise<Set<string>> {
  const metrics = new CourierMetrics({ processMetrics: false });
  metrics.registerDestination('d');
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram')
      for (const s of ['_bucket', '_sum', '_count']) names.add(`${m.name}${s}`);
  }
  return names;
}

/** Metric names (courier_…) and recording-rule names (courier:…) an expression uses. */
function namesIn(expr: string): string[] {
  return [...expr.replace(/"[^"]*"/g, '""').matchAll(/\bcourier[_:][A-Za-z0-9_:]*/g)].map((m) => m[0]);
}

test('the Prometheus rules parse and name only existing metrics', async () => {
  const known = await knownMetrics();
  const doc = parse(readFileSync(new URL('prometheus-rules.yaml', dir), 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ record?: string; alert?: string; expr: string }> }>;
  };
  const records = new Set(doc.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
  const alerts = doc.groups.flatMap((g) => g.rules.filter((r) => r.alert));
  assert.ok(alerts.length >= 7, 'every alert Courier evaluates has a rule');
  for (const group of doc.groups) {
    for (const rule of group.rules) {
      assert.equal(typeof rule.expr, 'string', `${rule.alert ?? rule.record}: expr`);
      const names = namesIn(rule.expr);
      assert.ok(names.length > 0, `${rule.alert ?? rule.record} names a metric`);
      for (const name of names) {
        assert.ok(
          known.has(name) || records.has(name),
          `${rule.alert ?? rule.record}: unknown metric ${name}`,
        );
      }
    }
  }
});

test('the Grafana dashboard parses and its queries name only existing metrics', async () => {
  const known = await knownMetrics();
  const dashboard = JSON.parse(readFileSync(new URL('grafana-dashboard.json', dir), 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    templating: { list: Array<{ definition?: string }> };
  };
  const exprs = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => [p.title, t.expr] as const)),
    ...dashboard.templating.list.flatMap((v) => (v.definition ? [['variable', v.definition] as const] : [])),
  ];
  assert.ok(dashboard.panels.length >= 10);
  for (const [title, expr] of exprs) {
    const names = namesIn(expr);
    assert.ok(names.length > 0, `${title} names a metric`);
    for (const name of names) assert.ok(known.has(name), `${title}: unknown metric ${name}`);
  }
});

test("the paused-destination alert names exactly the failure map's pause reasons that need the destination's owner", () => {
  const doc = parse(readFileSync(new URL('prometheus-rules.yaml', dir), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert?: string; expr: string }> }>;
  };
  const exprs = doc.groups
    .flatMap((g) => g.rules)
    .filter((r) => r.expr.includes('courier_destination_paused{reason=~'));
  assert.ok(exprs.length > 0, 'a rule alerts on paused destinations by reason');
  const needOwner = Object.entries(PAUSE_REASONS)
    .filter(([, r]) => r.needsOwner)
    .map(([name]) => name)
    .sort();
  for (const rule of exprs) {
    const listed = /reason=~"([^"]*)"/.exec(rule.expr)?.[1]?.split('|').sort();
    assert.deepEqual(
      listed,
      needOwner,
      `${rule.alert}: its reasons follow PAUSE_REASONS in policy/failures.ts`,
    );
  }
});
