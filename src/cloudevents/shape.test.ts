import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchesEventType } from './shape.ts';

test('glob patterns match event types', () => {
  assert.equal(matchesEventType(['*'], 'anything.at.all'), true);
  assert.equal(matchesEventType(['contact.*'], 'contact.created'), true);
  assert.equal(matchesEventType(['contact.*'], 'contacts.created'), false);
  assert.equal(matchesEventType(['order.?.paid'], 'order.x.paid'), true);
  assert.equal(matchesEventType(['order.?.paid'], 'order.xy.paid'), false);
  assert.equal(matchesEventType(['a.b', 'c.*'], 'c.d'), true);
  assert.equal(matchesEventType(['a.b'], 'aXb'), false, 'dots are literal');
});

test('a header from the event: optional sends none for a missing, failing or invalid value; too long is too-large', async () => {
  const { compileShape, shapeEvent } = await import('./shape.ts');
  const limits = { cpuMs: 100, outputBytes: 1000, headerBytes: 16 };
  const shape = (optional: boolean) =>
    compileShape({ id: 'd', headers: [{ name: 'x-v', from: 'data.v', optional }], limits });
  const event = (v: unknown) => ({ specversion: '1.0', id: 'e', type: 't', source: 's', data: { v } });
  const optional = shape(true);
  for (const v of ['a\r\nb', 'caf\u00e9', { nested: 1 }, null]) {
    assert.deepEqual(await shapeEvent(optional, event(v)), { kind: 'route' }, JSON.stringify(v));
  }
  assert.deepEqual(await shapeEvent(optional, event('fine')), { kind: 'route', headers: { 'x-v': 'fine' } });
  const required = shape(false);
  const bad = await shapeEvent(required, event('a\r\nb'));
  assert.equal(bad.kind === 'fail' && bad.code, 'INVALID_REQUEST');
  const long = await shapeEvent(optional, event('x'.repeat(17)));
  assert.equal(
    long.kind === 'fail' && long.code,
    'HEADER_LIMIT',
    'a value over the limit is too large, optional or not',
  );
});
