// Plain facts about an algorithm run for display: its state in words, progress, durations.
// Times on the server are Unix seconds; durations are shown from milliseconds.
import type { Job, JobState } from '../api/jobs';

const TERMINAL: JobState[] = ['succeeded', 'failed', 'cancelled'];

export function isTerminal(state: string): boolean {
  return (TERMINAL as string[]).includes(state);
}

export const STATE_LABELS: Record<JobState, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function algorithmLabel(job: Pick<Job, 'params' | 'algorithm'>): string {
  const id = job.params.algorithm ?? job.algorithm?.id ?? 'algorithm';
  const version = job.params.version ?? job.algorithm?.version ?? '';
  return version ? `${id} ${version}` : id;
}

// 0..1 while the worker reports steps; null when it has not said how many.
export function progressFraction(job: Pick<Job, 'state' | 'progress'>): number | null {
  if (job.state === 'succeeded') return 1;
  const { done, total } = job.progress ?? { done: 0, total: 0 };
  if (!total || total <= 0) return null;
  return Math.max(0, Math.min(1, done / total));
}

export function statusText(job: Pick<Job, 'state' | 'progress' | 'error' | 'attempts'>): string {
  const label = STATE_LABELS[job.state as JobState] ?? job.state;
  switch (job.state) {
    case 'queued':
      return job.attempts > 0 ? `${label} (retry ${job.attempts + 1})` : `${label}: waiting for a worker`;
    case 'running': {
      const p = job.progress;
      const step = p && p.total > 0 ? ` (step ${Math.min(p.done + 1, p.total)} of ${p.total})` : '';
      return p?.note ? `${label}: ${p.note}${step}` : `${label}${step}`;
    }
    case 'failed':
      return job.error ? `${label}: ${job.error}` : label;
    default:
      return label;
  }
}

// The worker's own stage timings (fetch, convert, run, store) in ms, when it reported them:
// the server's timestamps are whole seconds.
export function stagesMs(job: Pick<Job, 'timings_ms'>): number | null {
  const stages = Object.entries(job.timings_ms ?? {}).filter(([stage, ms]) => stage !== 'queued' && typeof ms === 'number');
  return stages.length ? stages.reduce((sum, [, ms]) => sum + ms, 0) : null;
}

// How long the run took, or has taken so far, in words.
export function runDurationText(job: Pick<Job, 'started_at' | 'finished_at' | 'state' | 'timings_ms'>, nowSeconds: number): string {
  const precise = stagesMs(job);
  if (precise !== null) return formatDuration(precise);
  const ms = runDurationMs(job, nowSeconds);
  if (ms === null) return '';
  return ms < 1000 ? '< 1 s' : formatDuration(ms);
}

// How long the run took (or has taken so far), from the worker's start, to the second.
export function runDurationMs(job: Pick<Job, 'started_at' | 'finished_at' | 'state'>, nowSeconds: number): number | null {
  if (!job.started_at) return null;
  const end = job.finished_at ?? (isTerminal(job.state) ? null : nowSeconds);
  if (end === null) return null;
  return Math.max(0, (end - job.started_at) * 1000);
}

// From submission to a worker starting it.
export function queueWaitMs(job: Pick<Job, 'created_at' | 'started_at' | 'timings_ms'>): number | null {
  if (typeof job.timings_ms?.queued === 'number') return job.timings_ms.queued;
  if (!job.started_at) return null;
  return Math.max(0, (job.started_at - job.created_at) * 1000);
}

export function queueWaitText(job: Pick<Job, 'created_at' | 'started_at' | 'timings_ms'>): string {
  if (typeof job.timings_ms?.queued === 'number') return formatDuration(job.timings_ms.queued);
  const ms = queueWaitMs(job);
  if (ms === null) return '';
  return ms < 1000 ? '< 1 s' : formatDuration(ms);
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const whole = Math.round(s);
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m} min ${String(whole % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
