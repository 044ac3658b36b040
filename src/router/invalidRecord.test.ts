import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerString } from '../kafka/headers.ts';
import { fitsAlone } from '../kafka/sizedSend.ts';
import { invalidRecord } from './invalidRecord.ts';

const LIMIT = 1_048_588;
const source = { topic: 'events', partition: 2, offset: '17' };

test('a small invalid event is stored whole, producer headers kept except courier-*', () => {
  const r = invalidRecord(
    {
      key: Buffer.from('k'),
      value: Buffer.from('garbage'),
      headers: { trace: 'abc', 'courier-replay-force': '1', 'Courier-Attempt': '5' },
      reason: 'EVENT_NOT_DECODABLE',
      detail: 'not JSON',
      source,
    },
    LIMIT,
  );
  assert.equal(r.value?.toString(), 'garbage');
  assert.equal(r.key?.toString(), 'k');
  assert.equal(headerString(r.headers, 'trace'), 'abc');
  assert.equal(headerString(r.headers, 'courier-replay-force'), undefined);
  assert.equal(headerString(r.headers, 'Courier-Attempt'), undefined);
  assert.equal(headerString(r.headers, 'courier-error'), 'EVENT_NOT_DECODABLE: not JSON');
  assert.equal(headerString(r.headers, 'courier-source-offset'), '17');
  assert.equal(headerString(r.headers, 'courier-original-size'), '7');
  assert.equal(headerString(r.headers, 'courier-truncated'), undefined);
});

test('a 2 MB invalid event is stored truncated within the limit, saying so', () => {
  const value = Buffer.alloc(2 * 1024 * 1024, 0x61);
  const r = invalidRecord(
    {
      key: Buffer.from('k'),
      value,
      headers: { trace: 'abc' },
      reason: 'EVENT_TOO_LARGE',
      detail: 'big',
      source,
    },
    LIMIT,
  );
  assert.ok(fitsAlone(r, LIMIT));
  assert.equal(headerString(r.headers, 'courier-truncated'), '1');
  assert.equal(headerString(r.headers, 'courier-original-size'), String(value.length));
  assert.equal(headerString(r.headers, 'trace'), 'abc');
  assert.ok((r.value as Buffer).length > 900_000, 'keeps most of the limit');
  assert.ok(value.subarray(0, (r.value as Buffer).length).equals(r.value as Buffer), 'the first bytes');
});

test('huge producer headers are dropped before the value; a huge key leaves a reference', () => {
  const big = 'h'.repeat(2_000_000);
  const r = invalidRecord(
    {
      key: Buffer.from('k'),
      value: Buffer.from('v'),
      headers: { big },
      reason: 'EVENT_TOO_LARGE',
      detail: 'x',
      source,
    },
    LIMIT,
  );
  assert.ok(fitsAlone(r, LIMIT));
  assert.equal(headerString(r.headers, 'big'), undefined);
  assert.equal(r.value?.toString(), 'v');
  const ref = invalidRecord(
    {
      key: Buffer.alloc(2_000_000),
      value: Buffer.from('v'),
      headers: {},
      reason: 'EVENT_TOO_LARGE',
      detail: 'x',
      source,
    },
    LIMIT,
  );
  assert.ok(fitsAlone(ref, LIMIT));
  assert.equal(ref.key, null);
  assert.equal(ref.value, null);
  assert.equal(headerString(ref.headers, 'courier-source-partition'), '2');
  assert.equal(headerString(ref.headers, 'courier-error'), 'EVENT_TOO_LARGE: x');
});
