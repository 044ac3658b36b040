// The chart's pods run: the Deployment `helm template` renders for the default layout gives the
// container's arguments, environment and mounted courier.yaml; two such processes run against the
// local stack (each with its own metrics port, as pods have their own network), scale to three and
// back to one the way KEDA would (a new pod; then SIGTERM, as the kubelet sends it, within the
// rendered grace period), while events flow. Nothing is lost, and a stopping pod's /readyz answers
// 503 before it exits, so no new work is routed to it.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { BROKERS, produceRaw, provision, REDIS_URL, testConfig, waitFor } from './helpers/stack.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const STACK = process.env.COURIER_STACK_DIR ?? join(ROOT, '.stack');
const pods = new Set<ChildProcess>();
after(() => {
  for (const p of pods) p.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

interface Rendered {
  args: string[];
  env: Array<{ name: string; value?: string }>;
  configPath: string;
  config: Record<string, unknown>;
  grace: number;
}

/** `helm template` of the default layout: the container and the ConfigMap's courier.yaml. */
async function render(values: Record<string, unknown>): Promise<Rendered> {
  await promisify(execFile)('bash', [join(ROOT, 'deploy/helm/check.sh'), '--tools-only'], {
    timeout: 900_000,
  });
  const dir = mkdtempSync(join(tmpdir(), 'courier-helm-'));
  writeFileSync(join(dir, 'values.yaml'), stringify(values));
  const { stdout } = await promisify(execFile)(
    join(STACK, 'tools/bin/helm'),
    ['template', 'pods', join(ROOT, 'deploy/helm/courier'), '-f', join(dir, 'values.yaml')],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  interface Doc {
    kind: string;
    data?: Record<string, string>;
    spec?: {
      template: {
        spec: {
          terminationGracePeriodSeconds: number;
          containers: Array<{
            args: string[];
            env: Array<{ name: string; value?: string }>;
            volumeMounts: Array<{ name: string; mountPath: string }>;
          }>;
        };
      };
    };
  }
  const docs = parseAllDocuments(stdout)
    .map((d) => d.toJSON() as Doc | null)
    .filter((d): d is Doc => d !== null);
  const deployment = docs.find((d) => d.kind === 'Deployment')?.spec?.template.spec;
  const configMap = docs.find((d) => d.kind === 'ConfigMap')?.data;
  assert.ok(deployment && configMap, 'a Deployment and a ConfigMap rendered');
  const container = deployment.containers[0];
  assert.ok(container);
  const mount = container.volumeMounts.find((m) => m.name === 'config')?.mountPath;
  return {
    args: container.args,
    env: container.env,
    configPath: `${mount}/courier.yaml`,
    config: parse(configMap['courier.yaml'] as string),
    grace: deployment.terminationGracePeriodSeconds,
  };
}

test('the rendered pods run: 2 → 3 → 1 replicas while events flow, nothing lost, readiness false before a pod stops', {
  timeout: 900_000,
}, async () => {
  const receiver = await startReceiver();
  const base = testConfig([{ id: 'crm', url: receiver.url }]);
  await provision(base);
  const rendered = await render({
    config: {
      kafka: { brokers: BROKERS, topicPrefix: base.kafka.topicPrefix, eventsTopic: base.kafka.eventsTopic },
      redis: { url: REDIS_URL },
      network: { allowPrivateAddresses: true },
      retryTiers: base.retryTiers,
      destinations: [{ id: 'crm', url: receiver.url, secrets: ['${CRM_SECRET}'] }],
    },
    env: [{ name: 'CRM_SECRET', value: base.destinations[0]?.secrets[0] }],
  });
  assert.deepEqual(rendered.args.slice(0, 3), ['run', '--config', rendered.configPath]);
  assert.equal(
    rendered.config.observability && (rendered.config.observability as { host: string }).host,
    '0.0.0.0',
  );
  assert.ok(rendered.grace >= 30 + 15, `grace ${rendered.grace} s covers shutdownTimeoutMs and the margin`);

  // A pod: the container's arguments and environment, its mounted courier.yaml at a local path.
  const start = async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'courier-pod-'));
    const config = {
      ...rendered.config,
      observability: { ...(rendered.config.observability as object), host: '127.0.0.1', port },
    };
    const path = join(dir, 'courier.yaml');
    writeFileSync(path, stringify(config));
    const env = Object.fromEntries(rendered.env.map((e) => [e.name, e.value ?? '']));
    const args = rendered.args.map((a) => (a === rendered.configPath ? path : a));
    const child = spawn(
      process.execPath,
      ['--disable-warning=TimeoutNegativeWarning', join(ROOT, 'src/cli/main.ts'), ...args],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, ...env, NODE_COMPILE_CACHE: join(dir, 'cache'), LOG_LEVEL: 'error' },
      },
    );
    pods.add(child);
    child.once('exit', () => pods.delete(child));
    const ready = async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status;
    await waitFor(async () => (await ready()) === 200, { timeoutMs: 120_000, message: 'the pod is ready' });
    return { child, ready };
  };
  // The kubelet's stop: SIGTERM, watching /readyz until the process exits, within the grace period.
  const stop = async (pod: Awaited<ReturnType<typeof start>>) => {
    const exited = once(pod.child, 'exit');
    pod.child.kill('SIGTERM');
    const seen: Array<number | undefined> = [];
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done) {
      seen.push(await pod.ready());
      await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
    }
    await Promise.race([
      exited,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('not stopped within the grace period')), rendered.grace * 1000),
      ),
    ]);
    return seen;
  };

  let n = 0;
  const ids: string[] = [];
  const produce = async (count: number) => {
    const batch = Array.from({ length: count }, () => `pod-${n++}`);
    ids.push(...batch);
    await produceRaw(
      base,
      batch.map((id) => ({ key: id, value: eventJson(id) })),
    );
  };

  try {
    const a = await start();
    const b = await start();
    await produce(200);
    const c = await start(); // KEDA scales up
    await produce(200);
    const seenB = await stop(b); // and down, one pod at a time
    await produce(200);
    const seenC = await stop(c);
    await produce(200);
    await waitFor(() => ids.every((id) => receiver.accepted.some((r) => r.json.id === id)), {
      timeoutMs: 120_000,
      message: () =>
        `every event delivered (${new Set(receiver.accepted.map((r) => r.json.id)).size} of ${ids.length})`,
    });
    // Once the pod took the SIGTERM (a sample sent in the same instant may still be answered 200),
    // /readyz is never 200 again, and it said so while the process still ran: the endpoint closes
    // first (a failed probe: the pod leaves its Service), then the roles stop and commit.
    for (const seen of [seenB, seenC]) {
      const firstNotReady = seen.findIndex((s) => s !== 200);
      assert.ok(firstNotReady >= 0 && firstNotReady <= 1, `not ready at once (${seen.join(',')})`);
      assert.ok(!seen.slice(firstNotReady).includes(200), `never ready again (${seen.join(',')})`);
      assert.ok(seen.length - firstNotReady >= 1, 'said while the process still ran');
    }
    const copies = receiver.accepted.filter((r) => ids.includes(r.json.id));
    assert.equal(new Set(copies.map((r) => r.json.id)).size, ids.length, 'nothing lost');
    console.log(
      `helm pods: ${ids.length} events, ${copies.length - ids.length} delivered twice, through 2 → 3 → 1 pods`,
    );
    await stop(a);
  } finally {
    for (const p of pods) p.kill('SIGKILL');
    await receiver.close();
  }
});
