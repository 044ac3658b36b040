// The consumer watch: states from kafkajs' instrumentation events, a fatal crash once, and a
// restarted consumer's former member handed over for removal from its group.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { ConsumerWatch } from './consumerWatch.ts';

const EVENTS = {
  GROUP_JOIN: 'consumer.group_join',
  FETCH_START: 'consumer.fetch_start',
  CRASH: 'consumer.crash',
  STOP: 'consumer.stop',
};

function fakeConsumer() {
  const bus = new EventEmitter();
  return {
    consumer: {
      events: EVENTS,
      on: (event: string, listener: (e: { payload: Record<string, unknown> }) => void) => {
        bus.on(event, listener);
        return () => bus.off(event, listener);
      },
    } as never,
    emit: (event: string, payload: Record<string, unknown>) => bus.emit(event, { payload }),
  };
}

test('a restart hands the former member id over once; a crash kafkajs will not restart is fatal', () => {
  const removed: Array<[string, string]> = [];
  const watch = new ConsumerWatch({ onRestart: (groupId, memberId) => removed.push([groupId, memberId]) });
  const fatal: Error[] = [];
  watch.on('fatal', (e) => fatal.push(e));
  const { consumer, emit } = fakeConsumer();
  watch.add('deliver:crm', consumer, 'g');
  emit(EVENTS.GROUP_JOIN, { memberId: 'm1' });
  assert.equal(watch.health()[0]?.state, 'running');
  emit(EVENTS.CRASH, { error: new Error('No broker available'), restart: true });
  assert.deepEqual(removed, [['g', 'm1']]);
  assert.equal(watch.health()[0]?.state, 'restarting');
  // A second crash before it joined again has no member of its own to remove.
  emit(EVENTS.CRASH, { error: new Error('coordinator loading'), restart: true });
  assert.deepEqual(removed, [['g', 'm1']]);
  emit(EVENTS.GROUP_JOIN, { memberId: 'm2' });
  emit(EVENTS.CRASH, { error: new Error('broken'), restart: false });
  assert.deepEqual(removed, [['g', 'm1']], 'not restarted: nothing rejoins');
  assert.equal(fatal.length, 1);
  assert.equal(watch.health()[0]?.state, 'crashed');
});
