import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { ed25519SecretProblem, generateEd25519Pair, publicKeyOf, sign, verifyingKey } from './signer.ts';

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

/** RFC 8032, section 7.1, test 1: a seed and its public key. */
const RFC8032_SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const RFC8032_PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');

test('Ed25519 keys: a whsk_ seed (32 bytes) or seed and public key (64) give the RFC 8032 public key', () => {
  const seedOnly = `whsk_${RFC8032_SEED.toString('base64')}`;
  const withPublic = `whsk_${Buffer.concat([RFC8032_SEED, RFC8032_PUBLIC]).toString('base64')}`;
  const expected = `whpk_${RFC8032_PUBLIC.toString('base64')}`;
  assert.equal(publicKeyOf(seedOnly), expected);
  assert.equal(publicKeyOf(withPublic), expected);
  assert.equal(ed25519SecretProblem(seedOnly), undefined);
  assert.equal(ed25519SecretProblem(withPublic), undefined);
  const wrongPublic = `whsk_${Buffer.concat([RFC8032_SEED, Buffer.alloc(32)]).toString('base64')}`;
  assert.match(ed25519SecretProblem(wrongPublic) ?? '', /not the public key/);
  assert.match(ed25519SecretProblem('whsk_AAAA') ?? '', /32 bytes .* or 64/);
});

test('v1a: an Ed25519 signature over {id}.{timestamp}.{body} verifies with the public key, and only over that', () => {
  const pair = generateEd25519Pair();
  assert.match(pair.secret, /^whsk_[A-Za-z0-9+/]{86}==$/);
  assert.equal(publicKeyOf(pair.secret), pair.public);
  const body = '{"id":"evt_2","data":{"n":1}}';
  const header = sign({ id: 'evt_2', timestampSeconds: 1_700_000_000, body, secrets: [pair.secret] });
  const [version, signature] = header.split(',');
  assert.equal(version, 'v1a');
  const key = verifyingKey(pair.public);
  const content = (b: string) => Buffer.from(`evt_2.1700000000.${b}`);
  assert.equal(verify(null, content(body), key, Buffer.from(signature as string, 'base64')), true);
  assert.equal(verify(null, content(`${body} `), key, Buffer.from(signature as string, 'base64')), false);
  assert.equal(Buffer.from(signature as string, 'base64').length, 64);
});

test('a rotation from HMAC to Ed25519: both signatures are sent; each receiver verifies its own', () => {
  const pair = generateEd25519Pair();
  const body = JSON.stringify({ id: 'evt_3' });
  const ts = Math.floor(Date.now() / 1000);
  const header = sign({ id: 'evt_3', timestampSeconds: ts, body, secrets: [A, pair.secret] });
  const entries = header.split(' ');
  assert.deepEqual(
    entries.map((e) => e.split(',')[0]),
    ['v1', 'v1a'],
  );
  // A receiver still on the HMAC secret (the official library skips v1a entries).
  const headers = { 'webhook-id': 'evt_3', 'webhook-timestamp': String(ts), 'webhook-signature': header };
  assert.deepEqual(new Webhook(A).verify(body, headers), JSON.parse(body));
  // A receiver with the public key.
  const v1a = (entries[1] as string).slice('v1a,'.length);
  assert.ok(
    verify(null, Buffer.from(`evt_3.${ts}.${body}`), verifyingKey(pair.public), Buffer.from(v1a, 'base64')),
  );
});
