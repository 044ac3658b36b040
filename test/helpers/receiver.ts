// A real HTTP receiver on loopback that records every request and answers as the test says:
// a status, headers, a delay, or a hang past the sender's timeout.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  headers: IncomingHttpHeaders;
  body: string;
  json: { id: string; type: string; data?: unknown; [k: string]: unknown };
  at: number;
  /** 1-based count of requests this receiver has seen carrying this webhook-id. */
  nth: number;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Milliseconds to wait before answering. */
  delayMs?: number;
  /** Answer only once this settles (after `delayMs`, if both are given). */
  until?: Promise<unknown>;
}

export type Behaviour = (req: ReceivedRequest) => Reply;

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Requests answered 2xx. */
  accepted: ReceivedRequest[];
  setBehaviour(b: Behaviour): void;
  /** The status HEAD, GET and other non-POST requests (readiness checks) are answered with. */
  setProbeStatus(status: number): void;
  /** Non-POST requests seen, as "METHOD path". */
  probes: string[];
  close(): Promise<void>;
}

export async function startReceiver(
  behaviour: Behaviour = () => ({ status: 200 }),
  port = 0,
): Promise<Receiver> {
  let current = behaviour;
  let probeStatus = 200;
  const probes: string[] = [];
  const requests: ReceivedRequest[] = [];
  const accepted: ReceivedRequest[] = [];
  const seen = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') {
        probes.push(`${req.method} ${req.url}`);
        res.statusCode = probeStatus;
        res.end();
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      const nth = (seen.get(id) ?? 0) + 1;
      seen.set(id, nth);
      let json: ReceivedRequest['json'];
      try {
        json = JSON.parse(body);
      } catch {
        json = { id: '', type: '' };
      }
      const record: ReceivedRequest = { headers: req.headers, body, json, at: Date.now(), nth };
      requests.push(record);
      const reply = current(record);
      const answer = () => {
        if (res.destroyed) return;
        const status = reply.status ?? 200;
        if (status >= 200 && status < 300) accepted.push(record);
        res.writeHead(status, reply.headers ?? {});
        res.end(reply.body ?? '');
      };
      const delayed = () => (reply.delayMs ? setTimeout(answer, reply.delayMs) : answer());
      if (reply.until) reply.until.then(delayed, delayed);
      else delayed();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actualPort}/hook`,
    port: actualPort,
    requests,
    accepted,
    setBehaviour: (b) => {
      current = b;
    },
    setProbeStatus: (status) => {
      probeStatus = status;
    },
    probes,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
