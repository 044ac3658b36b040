import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { sign } from './signer.ts';

const A = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const B = 'whsec_dGVzdC1zZWNvbmQtc2VjcmV0LWtleQ==';

test('signatures verify with the official standardwebhooks library, for every rotated secret', () => {
  const body = JSON.stringify({ id: 'evt_1', type: 'contact.created', data: { a: 1 } });
  const ts = Math.floor(Date.now() / 1000);
  const signature = sign({ id: 'evt_1', timestampSeconds: ts, body, secrets: [A, B] });
  assert.equal(signature.split(' ').length, 2);
  const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': signature };
  for (const secret of [A, B]) assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  assert.throws(() => new Webhook(A).verify(`${body} `, headers));
});

test('matches the Standard Webhooks reference vector', () => {
  // From the Standard Webhooks specification's example.
  const signature = sign({
    id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    timestampSeconds: 1614265330,
    body: '{"test": 2432232314}',
    secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
  });
  assert.equal(signature, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});
