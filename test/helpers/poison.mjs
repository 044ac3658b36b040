// Preloaded into `courier run` by the crash-loop tests (NODE_OPTIONS=--import): kills the process
// outright (SIGKILL: no cleanup, no stop) when it handles the event whose id is
// COURIER_TEST_POISON — in the router, as it decodes it (POISON_AT=route); in a deliverer, as it
// sends it (POISON_AT=send, undici's request channel). A stand-in for whatever nobody foresaw.
import diagnosticsChannel from 'node:diagnostics_channel';

const marker = process.env.COURIER_TEST_POISON;
if (marker && process.env.COURIER_TEST_POISON_AT === 'route') {
  const parse = JSON.parse;
  JSON.parse = function poisoned(text, reviver) {
    if (typeof text === 'string' && text.includes(marker)) process.kill(process.pid, 'SIGKILL');
    return parse.call(this, text, reviver);
  };
} else if (marker && process.env.COURIER_TEST_POISON_AT === 'send') {
  diagnosticsChannel.subscribe('undici:request:create', ({ request }) => {
    if (String(request.headers).includes(marker)) process.kill(process.pid, 'SIGKILL');
  });
}
