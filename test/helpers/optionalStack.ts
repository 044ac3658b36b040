// The optional parts of the local stack that only some tests need: the secured Kafka
// (SASL_SSL/SSL), a three-node Redis Cluster, Redis with TLS and an ACL user, Redis Sentinel. Started through stack/stack.sh (idempotent);
// stopped again at the end only when this test started them, so a stack brought up by hand
// (`stack.sh up --secure --redis-cluster`) stays up.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STACK = fileURLToPath(new URL('../../stack/stack.sh', import.meta.url));

export const REDIS_CLUSTER_NODES = ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103'];
export const REDIS_TLS = { url: 'rediss://127.0.0.1:7301', username: 'courier', password: 'courier-secret' };
export const REDIS_SENTINEL = { sentinels: ['127.0.0.1:7211'], name: 'courier-master' };
export const SECURE_KAFKA = {
  saslSsl: '127.0.0.1:19093',
  ssl: '127.0.0.1:19094',
  certDir: `${process.env.COURIER_STACK_DIR ?? `${ROOT}.stack`}/certs`,
  username: 'courier',
  password: 'courier-secret',
};

function stack(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [STACK, ...args], { timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`stack.sh ${args.join(' ')} failed: ${stderr || stdout}`));
      else resolve(stdout);
    });
  });
}

/** Starts the part if needed; resolves to a function that stops it if this call started it. */
async function ensure(
  part: 'kafka-secure' | 'redis-cluster' | 'redis-tls' | 'redis-sentinel',
): Promise<() => Promise<void>> {
  const out = await stack([part, 'up']);
  if (out.includes('already running')) return async () => {};
  return async () => {
    await stack([part, 'down']);
  };
}

export const ensureRedisCluster = () => ensure('redis-cluster');
export const ensureSecureKafka = () => ensure('kafka-secure');
/** The stack's private CA, server (127.0.0.1/localhost) and client certificates, made if missing. */
export async function ensureCerts(): Promise<void> {
  await stack(['certs']);
}
export const ensureRedisTls = () => ensure('redis-tls');
export const ensureRedisSentinel = () => ensure('redis-sentinel');
