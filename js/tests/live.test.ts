import { describe, expect, it, vi } from 'vitest';

import { CLOSED, debounced, LiveStream, type IEventSourceLike } from '../live';

class FakeSource implements IEventSourceLike {
  onopen: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  readyState = 0;
  closed = false;
  listeners: Record<string, (ev: { data: string }) => void> = {};
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (ev: { data: string }) => void): void {
    this.listeners[type] = listener;
  }
  close(): void {
    this.closed = true;
    this.readyState = CLOSED;
  }
  emit(type: string, data: string): void {
    this.listeners[type]?.({ data });
  }
}

function fakeTimers() {
  const pending: { fn: () => void; ms: number }[] = [];
  return {
    pending,
    timers: { set: (fn: () => void, ms: number) => pending.push({ fn, ms }), clear: () => undefined },
    runNext: () => pending.shift()?.fn()
  };
}

describe('LiveStream', () => {
  it('dispatches parsed events and calls onOpen on (re)connection', () => {
    const sources: FakeSource[] = [];
    const got: unknown[] = [];
    let opened = 0;
    const live = new LiveStream({
      url: () => '/stream?after=3',
      handlers: { execution: d => got.push(d) },
      onOpen: () => opened++,
      factory: u => {
        const s = new FakeSource(u);
        sources.push(s);
        return s;
      }
    });
    live.start();
    expect(live.mode).toBe('stream');
    expect(sources[0].url).toBe('/stream?after=3');
    sources[0].onopen!({});
    sources[0].emit('execution', '{"id":"e-1"}');
    sources[0].emit('execution', 'not json');
    expect(got).toEqual([{ id: 'e-1' }]);
    expect(opened).toBe(1);
    live.dispose();
    expect(sources[0].closed).toBe(true);
  });

  it('falls back to polling after repeated failures', async () => {
    const t = fakeTimers();
    let polls = 0;
    const sources: FakeSource[] = [];
    const live = new LiveStream({
      url: () => '/stream',
      handlers: {},
      poll: async () => void polls++,
      pollMs: 50,
      maxErrors: 2,
      timers: t.timers,
      factory: u => {
        const s = new FakeSource(u);
        sources.push(s);
        return s;
      }
    });
    live.start();
    sources[0].onerror!({}); // still reconnecting by itself
    expect(live.mode).toBe('stream');
    sources[0].onerror!({});
    expect(live.mode).toBe('poll');
    expect(sources[0].closed).toBe(true);
    t.runNext();
    await new Promise(r => setTimeout(r, 0));
    expect(polls).toBe(1);
    expect(t.pending[0].ms).toBe(50);
    live.dispose();
  });

  it('reconnects with a fresh URL when the server closed the stream for good', () => {
    const t = fakeTimers();
    const sources: FakeSource[] = [];
    let n = 0;
    const live = new LiveStream({
      url: () => `/stream?after=${n++}`,
      handlers: {},
      timers: t.timers,
      factory: u => {
        const s = new FakeSource(u);
        sources.push(s);
        return s;
      }
    });
    live.start();
    sources[0].readyState = CLOSED;
    sources[0].onerror!({});
    t.runNext();
    expect(sources.map(s => s.url)).toEqual(['/stream?after=0', '/stream?after=1']);
    live.dispose();
  });
});

describe('debounced', () => {
  it('fires once per burst, after the delay, and not after cancel', () => {
    vi.useFakeTimers();
    let fired = 0;
    const d = debounced(() => fired++, 300);
    d.trigger();
    d.trigger();
    vi.advanceTimersByTime(299);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    d.trigger();
    d.cancel();
    vi.advanceTimersByTime(1000);
    expect(fired).toBe(1);
    d.trigger();
    vi.advanceTimersByTime(300);
    expect(fired).toBe(2);
    vi.useRealTimers();
  });
});
