// Turns what undici and Node throw for a request that got no HTTP answer into one of the failure
// map's send error codes (../policy/failures.ts says what each means). Reads error codes, never
// message text.
import type { SendErrorCode } from '../policy/failures.ts';
import { FORBIDDEN_ADDRESS_CODE } from './addressGuard.ts';
import { PROXY_STATUS_CODE, PROXY_TIMEOUT_CODE } from './proxyTunnel.ts';

export function errorCode(err: unknown): { code: SendErrorCode; message: string } {
  const e = err as {
    code?: string;
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  const code = e?.cause?.code ?? e?.code ?? '';
  const message = e?.cause?.message ?? e?.message ?? String(err);
  if (code === FORBIDDEN_ADDRESS_CODE) return { code: 'FORBIDDEN_ADDRESS', message };
  if (code === PROXY_TIMEOUT_CODE) return { code: 'PROXY_TIMEOUT', message };
  if (code === PROXY_STATUS_CODE) {
    const status = (e.cause as { status?: number } | undefined)?.status ?? (e as { status?: number }).status;
    return { code: `PROXY_${status ?? 0}`, message };
  }
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_ARG_TYPE')
    return { code: 'INVALID_REQUEST', message };
  if (code === 'ECONNREFUSED') return { code: 'CONNECTION_REFUSED', message };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL')
    return { code: 'DNS_FAILURE', message };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { code: 'CONNECTION_REFUSED', message };
  if (
    e?.name === 'TimeoutError' ||
    e?.name === 'AbortError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'ABORT_ERR'
  ) {
    return { code: 'TIMEOUT', message: 'no response within the timeout' };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') {
    return { code: 'CONNECTION_RESET', message };
  }
  if (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    code.includes('CERT') ||
    code === 'EPROTO'
  ) {
    return { code: 'TLS_FAILURE', message };
  }
  return { code: 'NETWORK_ERROR', message };
}
