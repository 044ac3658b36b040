// The first KiB of a response body (only that much of an answer is ever kept), read best
// effort within its own bound once the status line has decided the outcome.

/** At most this many bytes of a response body are kept (attempt records, DLQ headers). */
export const SNIPPET_BYTES = 1024;

/** How long the first KiB of a response body may take once the status line has arrived. */
export const SNIPPET_TIMEOUT_MS = 1000;

type ResponseBody = AsyncIterable<Buffer> & { destroy(err?: Error): unknown };

/**
 * The first 1 KiB of a response body, best effort: the status line already decided the outcome,
 * so a body that drips, never ends or is cut off yields what arrived within its own short bound,
 * never an error. The rest of the body is discarded (the connection is closed if it is not done).
 */
export async function readSnippet(body: ResponseBody, timeoutMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let complete = false;
  let timer: NodeJS.Timeout | undefined;
  const reading = (async () => {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= SNIPPET_BYTES) return;
    }
    complete = true;
  })().catch(() => {});
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([reading, timeout]);
  clearTimeout(timer);
  if (!complete) body.destroy();
  return Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8');
}
