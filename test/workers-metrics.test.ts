// `courier run --workers 2`: the supervisor serves the machine's one /metrics, aggregated over both
// workers (counters summed, shared-state gauges at their maximum), and the workers serve none.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { CourierProcesses, writeConfig } from './helpers/cli.ts';
import { eventJson, freePort } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const processes = new CourierProcesses();
after(() => processes.killAll());

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('one scrape of the supervisor shows every worker', async () => {
  const receiver = await startReceiver();
  try {
    const port = await freePort();
    const config = testConfig([{ id: 'multi', url: receiver.url }], {
      kafka: { partitions: { destination: 4 }, sessionTimeoutMs: 6000 },
      observability: { port, probeIntervalMs: 500 },
    });
    await provision(config);
    const supervisor = processes.start(writeConfig(config), ['--workers', '2']);
    const N = 60;
    await produceRaw(
      config,
      Array.from({ length: N }, (_, i) => ({ key: `k${i}`, value: eventJson(`w-${i}`) })),
    );
    await waitFor(() => new Set(receiver.accepted.map((r) => r.json.id)).size === N, {
      message: `${N} events delivered`,
      timeoutMs: 120_000,
    });
    const delivered = 'courier_attempts_total{destination="multi",outcome="delivered",status_class="2xx"}';
    let text = '';
    await waitFor(
      async () => {
        text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
          (r) => r.text(),
          () => '',
        );
        return sample(text, delivered) === receiver.accepted.length;
      },
      {
        message: () => `aggregated deliveries ${sample(text, delivered)} of ${receiver.accepted.length}`,
        timeoutMs: 30_000,
      },
    );
    // Both workers delivered a share (4 partitions between 2 workers), summed in one series.
    assert.equal(sample(text, delivered), receiver.accepted.length);
    // The lag gauge (max over workers, not their sum) reaches 0 once the commits are read.
    const lag = 'courier_consumer_lag_messages{destination="multi"}';
    await waitFor(
      async () => {
        text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
          (r) => r.text(),
          () => '',
        );
        return sample(text, lag) === 0;
      },
      { message: () => `lag ${sample(text, lag)}`, timeoutMs: 30_000 },
    );
    const exited = once(supervisor, 'exit');
    supervisor.kill('SIGTERM');
    assert.equal((await exited)[0], 0);
  } finally {
    await receiver.close();
  }
});
