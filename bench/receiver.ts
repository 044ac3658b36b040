// The benchmark's receiver, in its own process: answers every POST 200 at once and records, per
// request, the arrival time, the path and (when the body carries `"pt":<epoch ms>`) the time the
// event was produced. The bench reads and resets it over GET/POST /_bench/* on the same port.
// Lean on purpose: it shares the machine's cores with the system under test.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const now = () => performance.timeOrigin + performance.now();

let arrivals: number[] = [];
let latencies: number[] = [];
/** Per timed event (a body with `pt`): its webhook-id, produce time and arrival, for the hop breakdown. */
let timed: Array<[string, number, number]> = [];
let perPath = new Map<string, number>();
let seen = new Map<string, Set<string>>();
let duplicates = 0;
/** Per path: the last arrival and the longest time between two arrivals since the reset. */
let gaps = new Map<string, { last: number; longest: number }>();

function reset(): void {
  gaps = new Map();
  arrivals = [];
  latencies = [];
  timed = [];
  perPath = new Map();
  seen = new Map();
  duplicates = 0;
}

const PT = /"pt":([0-9.]+)/;

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/_bench/')) {
    req.resume();
    req.on('end', () => {
      let body: unknown = {};
      if (url === '/_bench/count') body = { count: arrivals.length, duplicates };
      else if (url === '/_bench/report')
        body = { arrivals, latencies, duplicates, perPath: Object.fromEntries(perPath) };
      else if (url === '/_bench/timed') body = timed;
      else if (url === '/_bench/gaps')
        body = Object.fromEntries(
          [...gaps].map(([path, g]) => [path, { longestMs: g.longest, lastAt: g.last }]),
        );
      else if (url === '/_bench/reset') reset();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const at = now();
    arrivals.push(at);
    perPath.set(url, (perPath.get(url) ?? 0) + 1);
    const gap = gaps.get(url);
    if (gap) {
      gap.longest = Math.max(gap.longest, at - gap.last);
      gap.last = at;
    } else gaps.set(url, { last: at, longest: 0 });
    const id = req.headers['webhook-id'];
    if (typeof id === 'string') {
      let ids = seen.get(url);
      if (!ids) {
        ids = new Set();
        seen.set(url, ids);
      }
      if (ids.has(id)) duplicates++;
      else ids.add(id);
    }
    const m = PT.exec(Buffer.concat(chunks).toString('latin1'));
    if (m) {
      latencies.push(at - Number(m[1]));
      if (typeof id === 'string') timed.push([id, Number(m[1]), at]);
    }
    res.writeHead(200);
    res.end();
  });
});
server.keepAliveTimeout = 120_000;
server.maxRequestsPerSocket = 0;
server.listen(Number(process.env.BENCH_RECEIVER_PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ port });
});
process.on('SIGTERM', () => process.exit(0));
