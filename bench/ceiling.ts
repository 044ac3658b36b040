// The bare-HTTP ceiling, in its own process: undici POSTs of the benchmark's bodies to the
// receiver over BENCH_CONNECTIONS keep-alive connections, as fast as they go (four requests
// outstanding per connection). No Kafka, no Redis,
// no signing: what the machine's HTTP path allows, so Courier's figure has something to be
// compared with.
import { Pool } from 'undici';
import { eventBody } from './lib/events.ts';

const url = new URL(process.env.BENCH_URL as string);
const total = Number(process.env.BENCH_N ?? 20_000);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const run = process.env.BENCH_RUN ?? 'ceiling';
// More requests outstanding than connections, so the pool always has the next one queued when a
// response frees a connection (as a consumer handing over a whole batch does).
const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? connections * 4);

const pool = new Pool(url.origin, { connections });
let next = 0;
let failed = 0;

async function lane(): Promise<void> {
  for (;;) {
    const n = next++;
    if (n >= total) return;
    const body = eventBody(run, n);
    const res = await pool.request({
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': `${run}-${n}` },
      body,
    });
    await res.body.dump();
    if (res.statusCode !== 200) failed++;
  }
}

await Promise.all(Array.from({ length: inFlight }, () => lane()));
await pool.close();
process.send?.({ done: total, failed });
process.disconnect?.();
