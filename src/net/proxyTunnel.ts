// The client an egress proxy is reached through (undici's ProxyAgent asks it for each CONNECT
// tunnel). It bounds the CONNECT by the request's own connect budget — undici neither times it out
// nor lets the request's abort end it — and turns a proxy's refusal into typed errors: a non-2xx
// answer to CONNECT (`PROXY_<status>`) and no answer in time (`PROXY_TIMEOUT`) both mean that
// nothing reached the destination, a known outcome.
import { type Dispatcher, Pool } from 'undici';

export const PROXY_STATUS_CODE = 'COURIER_PROXY_STATUS';
export const PROXY_TIMEOUT_CODE = 'COURIER_PROXY_TIMEOUT';

export class ProxyRefusedError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  constructor(status: number | undefined, proxy: string) {
    super(
      status === undefined
        ? `the egress proxy ${proxy} did not open the tunnel in time (CONNECT unanswered)`
        : `the egress proxy ${proxy} answered CONNECT with ${status}: nothing reached the destination`,
    );
    this.name = 'ProxyRefusedError';
    this.code = status === undefined ? PROXY_TIMEOUT_CODE : PROXY_STATUS_CODE;
    this.status = status;
  }
}

type ConnectParams = Parameters<Dispatcher['connect']>[0];
type ConnectData = Dispatcher.ConnectData;

/** ProxyAgent's `clientFactory`: a pool to the proxy whose CONNECTs end within `connectMs`. */
export function boundedProxyClient(connectMs: number) {
  return (origin: URL, options: object): Dispatcher => {
    const pool = new Pool(origin, options);
    const connect = pool.connect.bind(pool) as (params: ConnectParams) => Promise<ConnectData>;
    const where = origin.host;
    const bounded = async (params: ConnectParams): Promise<ConnectData> => {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), connectMs);
      try {
        const answer = await connect({ ...params, signal: controller.signal });
        if (answer.statusCode !== 200) {
          answer.socket.on('error', () => {}).destroy();
          throw new ProxyRefusedError(answer.statusCode, where);
        }
        return answer;
      } catch (err) {
        if (controller.signal.aborted) throw new ProxyRefusedError(undefined, where);
        throw err;
      } finally {
        clearTimeout(timer);
      }
    };
    (pool as unknown as { connect: typeof bounded }).connect = bounded;
    return pool;
  };
}
