// An expression host: a child process of Courier's that evaluates jobs on one expression thread
// (expressionThread.ts) and answers over IPC. It exists so that nothing an expression does can end
// Courier's own process: a thread out of heap or past its CPU budget is ended and replaced here,
// and an allocation that aborts the whole host (V8 enforces a worker's heap limit only as best it
// can) ends only the host, which Courier replaces. It leaves when Courier does (IPC disconnects).
import { pino } from 'pino';
import type { ShapeSource } from '../cloudevents/shape.ts';
import { createLogger } from '../telemetry/logger.ts';
import { ExpressionThread } from './expressionThread.ts';
import type { FromHost, ToHost } from './protocol.ts';

if (!process.send) throw new Error('the expression host runs as a child process with IPC');
const send = (m: FromHost) => process.send?.(m);
const versions = new Map<string, ShapeSource[]>();
const thread = new ExpressionThread({
  memoryMb: Number(process.env.COURIER_EXPRESSION_MEMORY_MB) || 128,
  sourcesOf: (version) => {
    const sources = versions.get(version);
    if (!sources) throw new Error(`expression version ${version} is not configured`);
    return sources;
  },
  logger: createLogger({ destination: pino.destination({ fd: 2, sync: false }) }).child({
    component: 'expression-host',
  }),
});

process.on('message', (m: ToHost) => {
  if (m.kind === 'configure') {
    versions.set(m.version, m.sources);
    return;
  }
  if (m.kind === 'forget') {
    versions.delete(m.version);
    thread.forget(m.version);
    return;
  }
  if (m.kind === 'defer') {
    thread.defer(m.version, m.destination);
    return;
  }
  const { job, version, events, pairs } = m;
  thread.run({ version, events, pairs }).then(
    (result) => send({ kind: 'done', job, result }),
    (err) => send({ kind: 'error', job, message: String((err as Error)?.message ?? err) }),
  );
});
process.on('disconnect', () => {
  void thread.close().finally(() => process.exit(0));
});
send({ kind: 'ready' });
