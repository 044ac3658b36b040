import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CloudEvent } from './cloudEvent.ts';
import {
  bindEventType,
  compileFilter,
  compileHeaderValue,
  compileTransform,
  ExpressionError,
} from './expressions.ts';

const event: CloudEvent = {
  specversion: '1.0',
  id: 'e1',
  type: 'order.created',
  source: 'shop',
  subject: 'eu-42',
  tenant: 'acme',
  data: { total: 1500, contact: { email: 'a@example.com' }, type: 'inner', items: [1, 2, 3] },
};

function filter(source: string) {
  const f = compileFilter(source);
  assert.ok(f.ok, f.ok ? '' : f.problem);
  return f.value;
}

test('`type` is the event type, except as a field, a call, or inside a string', () => {
  assert.equal(bindEventType('type == "x"'), '__event_type == "x"');
  assert.equal(bindEventType('data.type == type'), 'data.type == __event_type');
  assert.equal(bindEventType('type(data) == map'), 'type(data) == map');
  assert.equal(bindEventType('"type" == type'), '"type" == __event_type');
  assert.equal(bindEventType("'it\\'s type' + type"), "'it\\'s type' + __event_type");
  assert.equal(bindEventType('typed == 1 && subtype == 2'), 'typed == 1 && subtype == 2');
});

test("the issue's filter: type, data and subject", () => {
  const f = filter('type == "order.created" && data.total > 1000 && subject.startsWith("eu-")');
  assert.equal(f(event), true);
  assert.equal(f({ ...event, subject: 'us-1' }), false);
  assert.equal(f({ ...event, data: { total: 10 } }), false);
  assert.equal(f({ ...event, type: 'order.paid' }), false);
});

test('extensions, absent attributes, data fields named like attributes, has() and lists', () => {
  assert.equal(filter('extensions.tenant == "acme"')(event), true);
  assert.equal(filter('time == ""')(event), true, 'an absent attribute is the empty string');
  assert.equal(filter('data.type == "inner" && type != "inner"')(event), true);
  assert.equal(filter('has(data.contact.email) && !has(data.missing)')(event), true);
  assert.equal(filter('size(data.items) == 3 && 2 in data.items')(event), true);
});

test('a run-time failure throws an ExpressionError with a stable code; the event decides nothing', () => {
  const f = filter('data.missing > 3');
  assert.throws(
    () => f(event),
    (err: unknown) => err instanceof ExpressionError && err.code === 'no_such_key',
  );
  const mixed = filter('data.total + "x" == "y"');
  assert.throws(
    () => mixed(event),
    (err: unknown) => err instanceof ExpressionError && err.code === 'no_such_overload',
  );
  const notBool = filter('data.total');
  assert.throws(() => notBool(event), /did not yield true or false/);
});

test('syntax and type errors are found at compile time, naming the problem', () => {
  const syntax = compileFilter('type == ');
  assert.ok(!syntax.ok && /not a CEL expression/.test(syntax.problem));
  const unknown = compileFilter('tenant == "acme"');
  assert.ok(!unknown.ok && /CEL type error: Unknown variable: tenant/.test(unknown.problem));
  const overload = compileFilter('subject.startsWith(1)');
  assert.ok(!overload.ok && /startsWith\(int\)/.test(overload.problem));
  const notCondition = compileFilter('"text"');
  assert.ok(!notCondition.ok && /must be a condition/.test(notCondition.problem));
  const typeMessage = compileFilter('type + 1 == 2');
  assert.ok(
    !typeMessage.ok && /string \+ int/.test(typeMessage.problem) && !/__event_type/.test(typeMessage.problem),
  );
});

test('header values: strings, numbers and bools as text; null means no header', () => {
  const value = (source: string) => {
    const h = compileHeaderValue(source);
    assert.ok(h.ok, h.ok ? '' : h.problem);
    return h.value(event);
  };
  assert.equal(value('id'), 'e1');
  assert.equal(value('data.total'), '1500');
  assert.equal(value('extensions.tenant'), 'acme');
  assert.equal(value('data.?nope.orValue(null)'), undefined);
  assert.throws(() => value('data.items'), /not a string, number or bool/);
});

test('a transform reshapes the event; a failing or endless one is stopped with a reason', async () => {
  const t = compileTransform('{ "id": id, "email": data.contact.email, "n": $count(data.items) }', {
    timeoutMs: 100,
  });
  assert.ok(t.ok);
  assert.equal(await t.value(event), '{"id":"e1","email":"a@example.com","n":3}');
  const failing = compileTransform('$number(data.contact.email)', { timeoutMs: 100 });
  assert.ok(failing.ok);
  await assert.rejects(
    () => failing.value(event),
    (err: unknown) => err instanceof ExpressionError && err.code !== 'timeout',
  );
  const endless = compileTransform('($f := function($n) { $f($n + 1) }; $f(0))', {
    timeoutMs: 50,
    stack: 100_000,
  });
  assert.ok(endless.ok);
  const started = Date.now();
  await assert.rejects(
    () => endless.value(event),
    (err: unknown) => err instanceof ExpressionError && (err.code === 'timeout' || err.code === 'D1011'),
  );
  assert.ok(Date.now() - started < 5000, 'stopped, not run to the end');
  const nothing = compileTransform('data.missing', { timeoutMs: 100 });
  assert.ok(nothing.ok);
  await assert.rejects(() => nothing.value(event), /produced nothing/);
  const syntax = compileTransform('{ "id": ', { timeoutMs: 100 });
  assert.ok(!syntax.ok && /not a JSONata expression/.test(syntax.problem));
});
