import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../api/jobs';
import { watchJob, streamsOpen, type EventSourceLike } from './jobWatch';

class FakeEvents implements EventSourceLike {
  listeners = new Map<string, ((e: MessageEvent) => void)[]>();
  closed = false;
  constructor(readonly url: string) {}
  addEventListener(type: string, fn: (e: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  emit(type: string, data = '{}') {
    for (const fn of this.listeners.get(type) ?? []) fn({ data } as MessageEvent);
  }
  close() {
    this.closed = true;
  }
}

const job = (state: Job['state'], done = 0): Job => ({
  id: 7, kind: 'algorithm', state, progress: { done, total: 4, note: '' }, error: null, created_by: 'doc',
  created_at: 0, started_at: null, finished_at: null, attempts: 0, params: {},
});

describe('following a job', () => {
  let streams: FakeEvents[];
  const openEvents = (url: string) => {
    const s = new FakeEvents(url);
    streams.push(s);
    return s;
  };
  beforeEach(() => {
    streams = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it('takes the states from the event stream and closes it at the end', async () => {
    const fetchJob = vi.fn(async () => job('running'));
    const seen: string[] = [];
    const w = watchJob(7, (j) => seen.push(j.state), { openEvents, fetchJob, eventsUrl: (id) => `/api/v1/jobs/${id}/events` });
    expect(streams[0].url).toBe('/api/v1/jobs/7/events');
    expect(w.mode).toBe('events');
    streams[0].emit('job', JSON.stringify(job('queued')));
    streams[0].emit('job', JSON.stringify(job('running', 2)));
    streams[0].emit('job', JSON.stringify(job('succeeded', 4)));
    expect(seen).toEqual(['queued', 'running', 'succeeded']);
    expect(streams[0].closed).toBe(true);
    expect(w.mode).toBe('done');
    expect(streamsOpen()).toBe(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fetchJob).not.toHaveBeenCalled();
  });

  it('falls back to polling when the stream fails', async () => {
    const answers = [job('running'), job('running'), job('failed')];
    const fetchJob = vi.fn(async () => answers.shift()!);
    const seen: string[] = [];
    const w = watchJob(7, (j) => seen.push(j.state), { openEvents, fetchJob, eventsUrl: () => 'x', pollMs: 100 });
    streams[0].emit('error');
    expect(streams[0].closed).toBe(true);
    expect(w.mode).toBe('polling');
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen).toEqual(['running', 'running', 'failed']);
    expect(w.mode).toBe('done');
    expect(fetchJob).toHaveBeenCalledTimes(3);
  });

  it('polls when the stream stays silent (a buffering proxy)', async () => {
    const fetchJob = vi.fn(async () => job('succeeded'));
    const seen: string[] = [];
    watchJob(7, (j) => seen.push(j.state), { openEvents, fetchJob, eventsUrl: () => 'x', silenceMs: 2000 });
    await vi.advanceTimersByTimeAsync(1999);
    expect(fetchJob).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(10);
    expect(seen).toEqual(['succeeded']);
    expect(streams[0].closed).toBe(true);
  });

  it('opens at most two streams at once; the others poll', async () => {
    const fetchJob = vi.fn(async () => job('running'));
    const a = watchJob(1, () => {}, { openEvents, fetchJob, eventsUrl: () => 'a' });
    const b = watchJob(2, () => {}, { openEvents, fetchJob, eventsUrl: () => 'b' });
    const c = watchJob(3, () => {}, { openEvents, fetchJob, eventsUrl: () => 'c' });
    expect([a.mode, b.mode, c.mode]).toEqual(['events', 'events', 'polling']);
    expect(streams).toHaveLength(2);
    for (const w of [a, b, c]) w.stop();
    expect(streamsOpen()).toBe(0);
  });

  it('stops on a permanent refusal and says so; retries network failures', async () => {
    const errors: unknown[] = [];
    const gone = Object.assign(new Error('not found'), { status: 404 });
    const fetchJob = vi.fn().mockRejectedValueOnce(Object.assign(new Error('down'), { status: 0 })).mockRejectedValueOnce(gone);
    const w = watchJob(7, () => {}, { openEvents: null, fetchJob, eventsUrl: () => 'x', pollMs: 100, onError: (e) => errors.push(e) });
    await vi.advanceTimersByTimeAsync(1000);
    expect(errors).toEqual([gone]);
    expect(w.mode).toBe('done');
    expect(fetchJob).toHaveBeenCalledTimes(2);
  });
});
