// Ed25519 signatures (Standard Webhooks `v1a`) end to end: a destination in the middle of a
// rotation from HMAC to Ed25519 sends both signatures, one with only its Ed25519 secret sends
// `v1a` alone; every request (a retry's too, with its new timestamp) verifies with the public key
// that `courier keys public` prints, and the HMAC one with the official library.
import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { after, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateEd25519Pair, verifyingKey } from '../src/net/signer.ts';
import { courierCli, writeConfig } from './helpers/cli.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type ReceivedRequest, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, SECRET, testConfig, waitFor } from './helpers/stack.ts';

let courier: RunningCourier | undefined;
after(async () => {
  await courier?.stop();
});

/** The `v1a` entries of a request's signature header that verify with `publicKey`. */
function v1aVerified(r: ReceivedRequest, publicKey: string): number {
  const content = Buffer.from(`${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`);
  const key = verifyingKey(publicKey);
  return String(r.headers['webhook-signature'])
    .split(' ')
    .filter((e) => e.startsWith('v1a,'))
    .filter((e) => verify(null, content, key, Buffer.from(e.slice(4), 'base64'))).length;
}

test('v1a signatures verify with the public key courier keys public prints, during a rotation from HMAC too', async () => {
  const rotating = generateEd25519Pair();
  const only = generateEd25519Pair();
  // The first request of `ed-retry` is answered 503: its retry is signed again.
  const behaviour = (r: ReceivedRequest) => ({ status: r.json.id === 'ed-retry' && r.nth === 1 ? 503 : 200 });
  const [atRotating, atAsymmetric] = await Promise.all([startReceiver(behaviour), startReceiver(behaviour)]);
  const config = testConfig([
    { id: 'rotating', url: atRotating.url, secrets: [SECRET, rotating.secret] },
    { id: 'asymmetric', url: atAsymmetric.url, secrets: [only.secret] },
  ]);
  await provision(config);
  const path = writeConfig(config);
  const printed = await courierCli(['keys', 'public', '--destination', 'rotating', '--config', path]);
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(
    printed.stdout.trim(),
    rotating.public,
    'the public key of the whsk_ secret, the whsec_ one has none',
  );
  const json = await courierCli([
    'keys',
    'public',
    '--destination',
    'asymmetric',
    '--json',
    '--config',
    path,
  ]);
  assert.deepEqual(JSON.parse(json.stdout), { destination: 'asymmetric', public: [only.public] });

  courier = await startCourier(config);
  const ids = ['ed-1', 'ed-2', 'ed-retry'];
  await produceRaw(
    config,
    ids.map((id) => ({ key: id, value: eventJson(id) })),
  );
  await waitFor(
    () => atRotating.accepted.length >= ids.length && atAsymmetric.accepted.length >= ids.length,
    {
      message: 'every event at both',
      timeoutMs: 30_000,
    },
  );

  const hmac = new Webhook(SECRET);
  const rotatingRequests = atRotating.requests;
  const asymmetricRequests = atAsymmetric.requests;
  // 3 events each, and the 503'd event twice at each destination.
  assert.equal(rotatingRequests.length, 4);
  assert.equal(asymmetricRequests.length, 4);
  for (const r of rotatingRequests) {
    assert.match(String(r.headers['webhook-signature']), /^v1,\S+ v1a,\S+$/);
    assert.equal(v1aVerified(r, rotating.public), 1, 'the v1a signature verifies with the printed key');
    assert.equal(v1aVerified(r, only.public), 0, "another destination's key does not verify it");
    const headers = {
      'webhook-id': String(r.headers['webhook-id']),
      'webhook-timestamp': String(r.headers['webhook-timestamp']),
      'webhook-signature': String(r.headers['webhook-signature']),
    };
    assert.equal(
      (hmac.verify(r.body, headers) as { id: string }).id,
      r.json.id,
      'the HMAC one still verifies',
    );
  }
  for (const r of asymmetricRequests) {
    assert.match(String(r.headers['webhook-signature']), /^v1a,\S+$/);
    assert.equal(v1aVerified(r, only.public), 1);
  }
  for (const at of [atRotating, atAsymmetric]) {
    const retried = at.requests.filter((r) => r.json.id === 'ed-retry');
    assert.equal(retried.length, 2, 'the retry was signed again');
  }
  await Promise.all([atRotating.close(), atAsymmetric.close()]);
});
