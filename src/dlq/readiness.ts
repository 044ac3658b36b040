// The readiness check before a replay: one request to the destination (a HEAD to its URL, or its
// configured `healthCheck`) through the same kind of client deliveries use (SSRF guard, client
// certificate). A replay into a destination that is not ready would only spend fresh retry
// budgets and fill the DLQ again, so a 5xx, a 429, a timeout or no answer at all means "not
// ready"; any other answer (a 405 to a HEAD, a 401 without credentials) is a server that is up —
// unless the destination says which status it expects.
import { request } from 'undici';
import { literalAddressForbidden, proxiedTargetProblem } from '../net/addressGuard.ts';
import { type ClientTls, createDispatcher } from '../net/dispatcher.ts';
import { errorCode } from '../net/networkError.ts';

export interface ReadinessRequest {
  url: string;
  method: 'HEAD' | 'GET' | 'OPTIONS';
  /** The statuses that mean ready; unset: anything but 5xx and 429. */
  expectStatus?: readonly number[];
  timeoutMs: number;
  allowPrivateAddresses: boolean;
  userAgent: string;
  tls?: ClientTls;
  /** The destination's egress proxy, if one applies. */
  proxy?: string;
}

export interface ReadinessAnswer {
  ready: boolean;
  /** What came back, for the one line a refused replay prints: `503`, `timeout`, `CONNECTION_REFUSED`. */
  answer: string;
  status?: number;
}

/** Whether an answer means ready. Pure. */
export function readinessOf(
  result: { status?: number; errorCode?: string },
  expectStatus?: readonly number[],
): ReadinessAnswer {
  const { status } = result;
  if (status === undefined) {
    const code = result.errorCode ?? 'NETWORK_ERROR';
    return { ready: false, answer: code === 'TIMEOUT' ? 'timeout' : code };
  }
  const ready = expectStatus ? expectStatus.includes(status) : status < 500 && status !== 429;
  return { ready, answer: String(status), status };
}

export async function checkReadiness(o: ReadinessRequest): Promise<ReadinessAnswer> {
  if (literalAddressForbidden(o.url, o.allowPrivateAddresses)) {
    return readinessOf({ errorCode: 'FORBIDDEN_ADDRESS' }, o.expectStatus);
  }
  if (o.proxy && !o.allowPrivateAddresses && (await proxiedTargetProblem(new URL(o.url).hostname))) {
    return readinessOf({ errorCode: 'FORBIDDEN_ADDRESS' }, o.expectStatus);
  }
  const dispatcher = createDispatcher({
    allowPrivateAddresses: o.allowPrivateAddresses,
    connections: 1,
    timeoutMs: o.timeoutMs,
    ...(o.tls ? { tls: o.tls } : {}),
    ...(o.proxy ? { proxy: o.proxy } : {}),
  });
  try {
    const res = await request(o.url, {
      method: o.method,
      dispatcher,
      headers: { 'user-agent': o.userAgent },
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    await res.body.dump().catch(() => {});
    return readinessOf({ status: res.statusCode }, o.expectStatus);
  } catch (err) {
    return readinessOf({ errorCode: errorCode(err).code }, o.expectStatus);
  } finally {
    await dispatcher.close().catch(() => {});
  }
}
