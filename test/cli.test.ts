// The `courier` command line as users run it (a child process): per-verb help and flags, usage
// errors in one line with exit 2, config check with secrets masked, unreachable Kafka or Redis
// in one line with exit 3, and results on stdout with logs on stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { COURIER_HEADER } from '../src/kafka/headers.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { CLI, courierCli, writeConfig } from './helpers/cli.ts';
import { freePort } from './helpers/measure.ts';
import { produceRaw, provision, SECRET, testConfig } from './helpers/stack.ts';

function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, `no stack trace expected:\n${stderr}`);
  assert.doesNotMatch(stderr, /TypeError|ERR_PARSE_ARGS/, stderr);
}

const VERBS = [
  'run',
  'topics',
  'produce',
  'replay',
  'pause',
  'resume',
  'inspect',
  'dlq list',
  'dlq show',
  'attempts',
  'status',
  'config check',
];

test("every verb's --help prints that verb's usage and flags, not the global usage", async () => {
  const results = await Promise.all(VERBS.map((verb) => courierCli([...verb.split(' '), '--help'])));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith(`usage: courier ${VERBS[i]}`), r.stdout);
    assert.doesNotMatch(r.stdout, /^commands:/m, 'not the global usage');
  });
  assert.match(results[0]?.stdout ?? '', /--roles LIST/);
  assert.match(results[0]?.stdout ?? '', /--workers N/);
  assert.doesNotMatch(results[0]?.stdout ?? '', /--dry-run/);
  const global = await courierCli(['--help']);
  assert.equal(global.code, 0);
  assert.match(
    global.stdout,
    /exit codes: 0 ok · 1 failure · 2 usage error · 3 a dependency cannot be reached/,
  );
});

test('a misplaced flag, a missing value, an unknown verb: one line, the usage, exit 2', async () => {
  const misplaced = await courierCli(['resume', '--destination', 'x', '--dry-run']);
  assert.equal(misplaced.code, 2);
  assert.equal(misplaced.stdout, '');
  const [line, usage] = misplaced.stderr.split('\n');
  assert.equal(line, 'courier: resume does not take --dry-run');
  assert.equal(usage, 'usage: courier resume --destination ID [--json] [--config PATH]');

  const missing = await courierCli(['replay', '--destination']);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr.split('\n')[0], 'courier: --destination needs a value (ID)');
  assertNoStack(missing.stderr);

  const badValue = await courierCli(['run', '--workers', 'zero', '--config', writeConfig(testConfig([]))]);
  assert.equal(badValue.code, 2);
  assert.equal(
    badValue.stderr.split('\n')[0],
    'courier: --workers must be a positive whole number, got "zero"',
  );

  // No courier.yaml anywhere: the verb is what is wrong, not the configuration.
  const empty = mkdtempSync(join(tmpdir(), 'courier-nocfg-'));
  const env = { COURIER_CONFIG: '' };
  const bogus = await courierCli(['bogus'], { env, cwd: empty });
  assert.equal(bogus.code, 2);
  assert.equal(bogus.stderr.split('\n')[0], 'courier: unknown command "bogus"');
  assert.doesNotMatch(bogus.stderr, /configuration/);
});

test('config check prints the resolved configuration with every secret masked', async () => {
  const secrets = {
    CRM_SECRET: SECRET,
    CRM_TOKEN: 'tok-4f9a1c77',
    REDIS_URL: 'redis://courier:redis-pw-8812@127.0.0.1:6379',
    SCHEMA_REGISTRY_URL: 'http://reg-user:reg-pw-5521@127.0.0.1:8080/apis/ccompat/v7',
  };
  const dir = mkdtempSync(join(tmpdir(), 'courier-check-'));
  const path = join(dir, 'courier.yaml');
  writeFileSync(
    path,
    `kafka: { brokers: [127.0.0.1:9092] }
destinations:
  - id: crm
    url: https://hooks.example.com/events
    secrets: ["\${CRM_SECRET}"]
    headers: { authorization: "Bearer \${CRM_TOKEN}" }
    timeoutMs: 5s
`,
  );
  const leaked = (text: string) =>
    [SECRET, 'tok-4f9a1c77', 'redis-pw-8812', 'reg-pw-5521'].filter((s) => text.includes(s));

  const text = await courierCli(['config', 'check', '--config', path], { env: secrets });
  assert.equal(text.code, 0, text.stderr);
  assert.deepEqual(leaked(text.stdout + text.stderr), []);
  assert.match(text.stdout, /timeoutMs: 5000/);
  assert.match(text.stdout, /url: redis:\/\/courier:\*\*\*@127\.0\.0\.1:6379/);

  const json = await courierCli(['config', 'check', '--json', '--config', path], { env: secrets });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(leaked(json.stdout + json.stderr), []);
  const report = JSON.parse(json.stdout) as {
    valid: boolean;
    config: { destinations: Array<{ headers: Record<string, string>; secrets: string[] }> };
  };
  assert.equal(report.valid, true);
  assert.deepEqual(report.config.destinations[0]?.headers, { authorization: '***' });
  assert.deepEqual(report.config.destinations[0]?.secrets, ['***']);

  writeFileSync(
    path,
    `kafka: { brokers: [127.0.0.1:9092] }
destinations:
  - { id: a, url: "http//x", secrets: ["${SECRET}"], headers: { x-h: "a\\r\\nX-Injected: 1" } }
  - { id: a, url: "https://ok.example/x", secrets: ["${SECRET}"], timeoutMs: 10s }
`,
  );
  const invalid = await courierCli(['config', 'check', '--config', path]);
  assert.equal(invalid.code, 1);
  assertNoStack(invalid.stderr);
  assert.deepEqual(invalid.stderr.trimEnd().split('\n'), [
    `courier: invalid configuration in ${path}:`,
    '  - destinations[0].url: must be an absolute http or https URL, e.g. https://hooks.example.com/events',
    '  - destinations[0].headers.x-h: header values may not contain control characters (CR, LF, NUL, …)',
    '  - destinations[1].id: duplicate id "a" (also destinations[0])',
  ]);
  const invalidJson = await courierCli(['config', 'check', '--json', '--config', path]);
  assert.equal(invalidJson.code, 1);
  assert.equal((JSON.parse(invalidJson.stdout) as { problems: string[] }).problems.length, 3);
});

test('Kafka or Redis unreachable at start: one line naming it, its address and why, exit 3', async () => {
  const path = writeConfig(testConfig([{ id: 'crm', url: 'http://127.0.0.1:9/hook' }]));
  const kafkaPort = await freePort();
  const redisPort = await freePort();
  const registryPort = await freePort();
  const registryDown = { SCHEMA_REGISTRY_URL: `http://127.0.0.1:${registryPort}/apis/ccompat/v7` };
  const registryLine = `courier: cannot reach the schema registry at http://127.0.0.1:${registryPort}/apis/ccompat/v7: connection refused\n`;
  const kafkaDown = { KAFKA_BROKERS: `127.0.0.1:${kafkaPort}` };
  const redisDown = { REDIS_URL: `redis://127.0.0.1:${redisPort}` };
  const kafkaLine = `courier: cannot reach Kafka at 127.0.0.1:${kafkaPort}: connection refused\n`;
  const redisLine = `courier: cannot reach Redis at 127.0.0.1:${redisPort}: connection refused\n`;
  const cases: Array<[string[], Record<string, string>, string]> = [
    [['run'], kafkaDown, kafkaLine],
    [['topics'], kafkaDown, kafkaLine],
    [['replay', '--destination', 'crm', '--dry-run'], kafkaDown, kafkaLine],
    [['produce', '--type', 'x.y', '--format', 'json'], kafkaDown, kafkaLine],
    [['run'], redisDown, redisLine],
    [['pause', '--destination', 'crm'], redisDown, redisLine],
    [['inspect', 'some-id'], redisDown, redisLine],
    [['run', '--roles', 'router'], registryDown, registryLine],
  ];
  for (const [args, env, line] of cases) {
    const started = Date.now();
    const r = await courierCli([...args, '--config', path], { env: { ...env, LOG_LEVEL: 'info' } });
    const elapsed = Date.now() - started;
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, line, args.join(' '));
    assert.equal(r.stdout, '');
    assert.ok(elapsed < 15_000, `${args.join(' ')} took ${elapsed} ms`);
  }
});

test('results on stdout, logs on stderr: --json and dry-run output parse cleanly', async () => {
  const config = testConfig([{ id: 'crm', url: 'http://127.0.0.1:9/hook' }]);
  const path = writeConfig(config);
  const env = { LOG_LEVEL: 'info' };
  const created = await courierCli(['topics', '--json', '--config', path], { env });
  assert.equal(created.code, 0, created.stderr);
  const report = JSON.parse(created.stdout) as { created: string[]; problems: string[] };
  assert.ok(report.created.includes(topicNames(config).dlq('crm')));
  assert.deepEqual(report.problems, []);
  await provision(config);

  const from = new Date(Date.now() - 60_000).toISOString();
  await produceRaw(
    config,
    ['d1', 'd2'].map((id) => ({
      key: id,
      value: '{}',
      headers: { [COURIER_HEADER.eventId]: id, [COURIER_HEADER.errorClass]: 'permanent' },
    })),
    topicNames(config).dlq('crm'),
  );
  const dry = await courierCli(
    ['replay', '--destination', 'crm', '--from', from, '--dry-run', '--config', path],
    {
      env,
    },
  );
  assert.equal(dry.code, 0, dry.stderr);
  const lines = dry.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3, dry.stdout);
  for (const l of lines) assert.match(l, /^(would re-send d[12] |replay \(dry run\) of crm: found 2)/);
  const logs = dry.stderr.trimEnd().split('\n').filter(Boolean);
  assert.ok(logs.length > 0, 'info logs were written, to stderr');
  for (const l of logs) assert.equal(typeof (JSON.parse(l) as { level: number }).level, 'number');

  const json = await courierCli(
    ['replay', '--destination', 'crm', '--from', from, '--dry-run', '--json', '--config', path],
    { env },
  );
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(
    (({ found, resent, skipped, dryRun }) => ({ found, resent, skipped, dryRun }))(
      JSON.parse(json.stdout) as Record<string, unknown>,
    ),
    { found: 2, resent: 0, skipped: 0, dryRun: true },
  );

  const paused = await courierCli(['pause', '--destination', 'crm', '--json', '--config', path], { env });
  assert.equal(paused.code, 0, paused.stderr);
  assert.deepEqual(JSON.parse(paused.stdout), {
    destination: 'crm',
    paused: true,
    reason: 'operator',
    was: { paused: false },
  });
  const produced = await courierCli(
    ['produce', '--type', 'order.created', '--format', 'json', '--count', '2', '--json', '--config', path],
    { env },
  );
  assert.equal(produced.code, 0, produced.stderr);
  assert.equal((JSON.parse(produced.stdout) as { ids: string[] }).ids.length, 2);
});

test('a multi-megabyte --json output survives a pipe whose reader is slow: byte for byte the file output', async () => {
  const config = testConfig([{ id: 'pipe', url: 'http://127.0.0.1:9/hook' }]);
  await provision(config);
  const dlq = topicNames(config).dlq('pipe');
  const COUNT = 20_000;
  for (let from = 0; from < COUNT; from += 5_000) {
    await produceRaw(
      config,
      Array.from({ length: 5_000 }, (_, j) => {
        const i = from + j;
        return {
          key: `k${i}`,
          value: JSON.stringify({ specversion: '1.0', id: `pipe-${i}`, type: 'order.created', source: 't' }),
          headers: {
            [COURIER_HEADER.eventId]: `pipe-${i}`,
            [COURIER_HEADER.eventType]: 'order.created',
            [COURIER_HEADER.destination]: 'pipe',
            [COURIER_HEADER.errorClass]: 'permanent',
            [COURIER_HEADER.lastStatus]: '422',
            [COURIER_HEADER.attempts]: '1',
            [COURIER_HEADER.lastError]:
              'HTTP 422: the receiver refused this event for a reason long enough to take room',
          },
        };
      }),
      dlq,
    );
  }
  const path = writeConfig(config);
  const dir = mkdtempSync(join(tmpdir(), 'courier-pipe-'));
  const args = `dlq list --destination pipe --json --limit 100000 --since 1d --config ${path}`;
  const cli = `"${process.execPath}" --disable-warning=TimeoutNegativeWarning "${CLI}" ${args}`;
  // To a file, then through a pipe whose reader only starts reading after two seconds.
  const file = join(dir, 'file.json');
  const piped = join(dir, 'piped.json');
  const run = (command: string) =>
    new Promise<number>((resolve) => {
      const child = spawn('bash', ['-c', command], {
        stdio: 'inherit',
        env: { ...process.env, LOG_LEVEL: 'error' },
      });
      child.on('exit', (code) => resolve(code ?? 1));
    });
  assert.equal(await run(`${cli} > "${file}"`), 0);
  assert.equal(await run(`set -o pipefail; ${cli} | (sleep 2; cat > "${piped}")`), 0);
  const whole = readFileSync(file);
  assert.ok(whole.length > 3_000_000, `a multi-megabyte output (${whole.length} bytes)`);
  assert.equal(JSON.parse(whole.toString()).items.length, COUNT);
  assert.ok(
    readFileSync(piped).equals(whole),
    `the piped output is whole (${readFileSync(piped).length} of ${whole.length} bytes)`,
  );
});

test('replay takes every --event, and --ids-file - reads the ids from standard input; a bad line is named', async () => {
  const config = testConfig([{ id: 'ids', url: 'http://127.0.0.1:9/hook' }]);
  await provision(config);
  await produceRaw(
    config,
    ['a-1', 'a-2', 'a-3'].map((id) => ({
      key: id,
      value: JSON.stringify({ specversion: '1.0', id, type: 't', source: 's' }),
      headers: {
        [COURIER_HEADER.eventId]: id,
        [COURIER_HEADER.destination]: 'ids',
        [COURIER_HEADER.errorClass]: 'permanent',
      },
    })),
    topicNames(config).dlq('ids'),
  );
  const path = writeConfig(config);
  const dry = ['replay', '--destination', 'ids', '--dry-run', '--config', path];
  const repeated = await courierCli([...dry, '--event', 'a-1', '--event', 'a-2,a-3']);
  assert.equal(repeated.code, 0, repeated.stderr);
  // Every id given, each once; re-sent in the order they were dead-lettered (here the same
  // instant, on two partitions: any order).
  assert.deepEqual(repeated.stdout.match(/would re-send (\S+)/g)?.sort(), [
    'would re-send a-1',
    'would re-send a-2',
    'would re-send a-3',
  ]);
  const stdin = await courierCli([...dry, '--ids-file', '-'], { input: '# two of them\na-3\n\na-1\n' });
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.equal((stdin.stdout.match(/would re-send/g) ?? []).length, 2);
  const bad = await courierCli([...dry, '--ids-file', '-'], { input: 'a-1\nnot an id\u0007\n' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^courier: --ids-file standard input, line 2: /);
  const empty = await courierCli([...dry, '--ids-file', '-'], { input: '# nothing\n\n' });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /^courier: --ids-file standard input names no event id/);
  const twice = await courierCli([...dry, '--event', 'a-1', '--rate', '5', '--rate', '6']);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /^courier: --rate is given twice; it takes one value/);
});
