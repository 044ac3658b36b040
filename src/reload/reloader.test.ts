// The reloader against a recording target: a valid file is applied, an invalid or restart-only one
// is not (and says why, by path), and triggers during a reload fold into one more.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { ConfigDiff } from '../config/diff.ts';
import { parseConfig } from '../config/load.ts';
import type { CourierConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { PipelineEmitter } from '../telemetry/events.ts';
import { Reloader, type ReloadTarget } from './reloader.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const quiet = pino({ level: 'silent' });

const config = (ids: string[], brokers = ['localhost:9092']) =>
  parseConfig(
    {
      kafka: { brokers },
      destinations: ids.map((id) => ({ id, url: 'https://h.example.com/', secrets: [SECRET] })),
    },
    { source: 'test', env: {} },
  );

function target(initial: CourierConfig, gate?: Promise<void>) {
  const applied: ConfigDiff[] = [];
  const t: ReloadTarget & { config: CourierConfig; applied: ConfigDiff[] } = {
    config: initial,
    applied,
    async apply(next, diff) {
      await gate;
      applied.push(diff);
      this.config = next;
    },
  };
  return t;
}

test('a valid file is applied; the metrics events say so', async () => {
  const t = target(config(['a']));
  const events = new PipelineEmitter();
  const seen: string[] = [];
  events.on('config-applied', ({ version }) => seen.push(`applied ${version}`));
  let file = config(['a', 'b']);
  const reloader = new Reloader({ path: 'x.yaml', target: t, logger: quiet, events, load: () => file });
  const result = await reloader.reload('test');
  assert.equal(result.ok, true);
  assert.deepEqual(
    t.applied.map((d) => d.added),
    [['b']],
  );
  assert.equal(seen.length, 1);
  // The same file again: an empty diff (the target still gets it: it retries what an earlier
  // reload could not start), a successful reload.
  file = config(['a', 'b']);
  const again = await reloader.reload('test');
  assert.equal(again.ok && again.diff.added.length, 0);
  assert.deepEqual(
    t.applied.map((d) => d.empty),
    [false, true],
  );
});

test('an invalid file and a restart-only change apply nothing and list why', async () => {
  const t = target(config(['a']));
  const events = new PipelineEmitter();
  const rejected: string[][] = [];
  events.on('config-rejected', ({ problems }) => rejected.push(problems));
  let load: () => CourierConfig = () => {
    throw new ConfigError('x.yaml', ['destinations[0].url: must be an absolute http or https URL']);
  };
  const reloader = new Reloader({ path: 'x.yaml', target: t, logger: quiet, events, load: () => load() });
  const invalid = await reloader.reload('test');
  assert.deepEqual(invalid.ok ? [] : [invalid.reason, invalid.problems], [
    'invalid',
    ['destinations[0].url: must be an absolute http or https URL'],
  ]);
  load = () => config(['b'], ['elsewhere:9092']);
  const refused = await reloader.reload('test');
  assert.equal(refused.ok ? '' : refused.reason, 'refused');
  assert.deepEqual(refused.ok ? [] : refused.problems, ['kafka.brokers: only a restart can change this']);
  assert.equal(t.applied.length, 0, 'nothing of either file was applied, not even the destinations');
  assert.equal(rejected.length, 2);
});

test('triggers while a reload runs fold into one more reload after it', async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const t = target(config(['a']), gate);
  let loads = 0;
  const files = [config(['a', 'b']), config(['a', 'b', 'c'])];
  const reloader = new Reloader({
    path: 'x.yaml',
    target: t,
    logger: quiet,
    load: () => files[Math.min(loads++, 1)] as CourierConfig,
  });
  const first = reloader.reload('one');
  const second = reloader.reload('two');
  const third = reloader.reload('three');
  open();
  const results = await Promise.all([first, second, third]);
  assert.equal(second, third, 'the triggers during the first share one reload');
  assert.equal(loads, 2);
  assert.deepEqual(
    t.applied.map((d) => d.added),
    [['b'], ['c']],
  );
  assert.ok(results.every((r) => r.ok));
});
