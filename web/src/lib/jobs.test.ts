import { describe, expect, it } from 'vitest';
import type { Job } from '../api/jobs';
import { algorithmLabel, formatDuration, isTerminal, progressFraction, queueWaitMs, queueWaitText, runDurationMs, runDurationText, statusText } from './jobs';

const job = (over: Partial<Job> = {}): Job => ({
  id: 1, kind: 'algorithm', state: 'queued', progress: { done: 0, total: 0, note: '' }, error: null,
  created_by: 'doc', created_at: 1000, started_at: null, finished_at: null, attempts: 0,
  params: { algorithm: 'ct-lungs', version: '1.0.0' }, ...over,
});

describe('job facts', () => {
  it('knows which states end a run', () => {
    expect(['succeeded', 'failed', 'cancelled'].every(isTerminal)).toBe(true);
    expect(isTerminal('queued') || isTerminal('running')).toBe(false);
  });

  it('says the state, the step and the failure in words', () => {
    expect(statusText(job())).toBe('Queued: waiting for a worker');
    expect(statusText(job({ state: 'queued', attempts: 1 }))).toBe('Queued (retry 2)');
    expect(statusText(job({ state: 'running', progress: { done: 1, total: 4, note: 'running CT lungs' } }))).toBe('Running: running CT lungs (step 2 of 4)');
    expect(statusText(job({ state: 'failed', error: 'the algorithm exited with status 1: boom' }))).toBe('Failed: the algorithm exited with status 1: boom');
    expect(statusText(job({ state: 'cancelled' }))).toBe('Cancelled');
  });

  it('reports progress only when the worker said how many steps', () => {
    expect(progressFraction(job())).toBeNull();
    expect(progressFraction(job({ state: 'running', progress: { done: 3, total: 4, note: '' } }))).toBe(0.75);
    expect(progressFraction(job({ state: 'succeeded' }))).toBe(1);
  });

  it('measures the run from its start and the wait from its submission', () => {
    expect(runDurationMs(job(), 2000)).toBeNull();
    expect(runDurationMs(job({ state: 'running', started_at: 1002 }), 1010)).toBe(8000);
    expect(runDurationMs(job({ state: 'succeeded', started_at: 1002, finished_at: 1005 }), 9999)).toBe(3000);
    expect(queueWaitMs(job({ started_at: 1002 }))).toBe(2000);
    expect(queueWaitMs(job({ started_at: 1002, timings_ms: { queued: 37 } }))).toBe(37);
    expect(queueWaitText(job({ started_at: 1000 }))).toBe('< 1 s');
    expect(queueWaitText(job({ started_at: 1000, timings_ms: { queued: 37 } }))).toBe('37 ms');
  });

  it('prefers the worker\'s stage timings to whole-second timestamps', () => {
    expect(runDurationText(job({ state: 'succeeded', started_at: 1002, finished_at: 1002, timings_ms: { queued: 5, fetch: 20, run: 300, store: 12.5 } }), 0)).toBe('333 ms');
    expect(runDurationText(job({ state: 'failed', started_at: 1002, finished_at: 1002 }), 0)).toBe('< 1 s');
    expect(runDurationText(job({ state: 'running', started_at: 1002 }), 1009)).toBe('7.0 s');
    expect(runDurationText(job(), 1009)).toBe('');
  });

  it('formats durations for people', () => {
    expect(formatDuration(null)).toBe('');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(2440)).toBe('2.4 s');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(65_000)).toBe('1 min 05 s');
    expect(formatDuration(3_720_000)).toBe('1 h 02 min');
  });

  it('labels a run with its algorithm and version', () => {
    expect(algorithmLabel(job())).toBe('ct-lungs 1.0.0');
    expect(algorithmLabel({ params: {}, algorithm: { id: 'dot', version: '1' } })).toBe('dot 1');
  });
});
