// The events every system in the benchmark carries: one CloudEvents JSON body per event, the same
// bytes whether they are POSTed bare, by the plain consumer or by Courier. Latency events carry
// their produce time (`data.pt`, epoch milliseconds with fractions) so the receiver can subtract.
export const EVENT_TYPE = 'bench.event';

/** Many keys: same-key order must not serialise the benchmark. */
export const KEYS = 2000;

const PAD = 'x'.repeat(160);

export function eventBody(run: string, n: number, producedAt?: number): string {
  return JSON.stringify({
    specversion: '1.0',
    id: `${run}-${n}`,
    type: EVENT_TYPE,
    source: 'courier-bench',
    time: '2026-01-01T00:00:00.000Z',
    datacontenttype: 'application/json',
    data: producedAt === undefined ? { n, pad: PAD } : { n, pad: PAD, pt: producedAt },
  });
}

export function eventKey(n: number): string {
  return `k${n % KEYS}`;
}

export const nowMs = (): number => performance.timeOrigin + performance.now();
