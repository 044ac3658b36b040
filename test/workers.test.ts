// `courier run --workers N`: N worker processes in the same consumer groups under one supervisor,
// which restarts a worker that was killed and stops them all gracefully on SIGTERM.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { CourierProcesses, writeConfig } from './helpers/cli.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const processes = new CourierProcesses();
after(() => processes.killAll());

/** The pids of a process's children (Linux). */
function childrenOf(pid: number): number[] {
  const path = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

test('two workers deliver; a killed worker is replaced; SIGTERM stops them all', async () => {
  const receiver = await startReceiver();
  try {
    const config = testConfig([{ id: 'multi', url: receiver.url }], {
      kafka: { partitions: { destination: 4 }, sessionTimeoutMs: 6000 },
    });
    await provision(config);
    const supervisor = processes.start(writeConfig(config), ['--workers', '2']);
    const pid = supervisor.pid as number;
    await waitFor(() => childrenOf(pid).length === 2, { message: 'two workers', timeoutMs: 30_000 });
    const first = childrenOf(pid);

    const unique = () => new Set(receiver.accepted.map((r) => r.json.id)).size;
    await produceRaw(
      config,
      Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: eventJson(`a-${i}`) })),
    );
    await waitFor(() => unique() === 200, { message: '200 events delivered', timeoutMs: 120_000 });

    process.kill(first[0] as number, 'SIGKILL');
    await waitFor(
      () => {
        const now = childrenOf(pid);
        return now.length === 2 && !now.includes(first[0] as number);
      },
      { message: 'the killed worker replaced', timeoutMs: 30_000 },
    );
    await produceRaw(
      config,
      Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: eventJson(`b-${i}`) })),
    );
    await waitFor(() => unique() === 300, { message: '300 events delivered', timeoutMs: 120_000 });

    const workers = childrenOf(pid);
    const exited = once(supervisor, 'exit');
    supervisor.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, 'the supervisor exits 0 after a graceful stop');
    for (const w of workers)
      assert.equal(
        existsSync(`/proc/${w}/stat`) && !readFileSync(`/proc/${w}/stat`, 'utf8').includes(') Z'),
        false,
        `worker ${w} is gone`,
      );
  } finally {
    await receiver.close();
  }
});
