// Follows one algorithm run until it ends: Server-Sent Events from
// GET /api/v1/jobs/{id}/events while they flow, polling GET /api/v1/jobs/{id} otherwise
// (a proxy that buffers the stream, an error, or too many streams open).
//
// At most MAX_STREAMS event streams are open at once in the page: each holds one of the
// browser's six connections to the server, which the viewer needs for its images.
import type { Job } from '../api/jobs';
import { isTerminal } from './jobs';

export interface EventSourceLike {
  addEventListener(type: string, listener: (e: MessageEvent) => void): void;
  close(): void;
}

export interface WatchOptions {
  openEvents?: ((url: string) => EventSourceLike) | null; // null: poll only
  fetchJob: (id: number) => Promise<Job>;
  eventsUrl: (id: number) => string;
  onError?: (e: unknown) => void; // the job cannot be followed (gone, forbidden)
  pollMs?: number;
  silenceMs?: number; // no first event within this: poll instead
}

export interface JobWatch {
  stop(): void;
  readonly mode: 'events' | 'polling' | 'done';
}

export const MAX_STREAMS = 2;
let openStreams = 0;
export const streamsOpen = () => openStreams;

// A failure that polling again will not fix (the server answered, with a 4xx).
const permanent = (e: unknown) => {
  const status = (e as { status?: number })?.status;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429;
};

export function watchJob(id: number, onUpdate: (job: Job) => void, opts: WatchOptions): JobWatch {
  const pollMs = opts.pollMs ?? 1000;
  const silenceMs = opts.silenceMs ?? 5000;
  let mode: JobWatch['mode'] = 'polling';
  let stream: EventSourceLike | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let silence: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;

  const ended = () => mode === 'done';
  const closeStream = () => {
    clearTimeout(silence);
    if (!stream) return;
    stream.close();
    stream = null;
    openStreams--;
  };
  const finish = () => {
    closeStream();
    clearTimeout(timer);
    mode = 'done';
  };
  const deliver = (job: Job) => {
    if (mode === 'done') return;
    onUpdate(job);
    if (isTerminal(job.state)) finish();
  };
  const poll = async () => {
    if (mode === 'done') return;
    try {
      deliver(await opts.fetchJob(id));
      failures = 0;
    } catch (e) {
      if (permanent(e)) {
        finish();
        opts.onError?.(e);
        return;
      }
      failures++;
    }
    // Back off while the server cannot be reached, up to 10 s.
    if (!ended()) timer = setTimeout(() => void poll(), Math.min(10_000, pollMs * 2 ** Math.min(failures, 4)));
  };
  const toPolling = () => {
    if (mode === 'done') return;
    closeStream();
    mode = 'polling';
    clearTimeout(timer);
    void poll();
  };

  if (opts.openEvents && openStreams < MAX_STREAMS) {
    try {
      stream = opts.openEvents(opts.eventsUrl(id));
      openStreams++;
      mode = 'events';
    } catch {
      stream = null;
    }
  }
  if (stream) {
    const s = stream;
    s.addEventListener('job', (e) => {
      clearTimeout(silence);
      try {
        deliver(JSON.parse(e.data) as Job);
      } catch {
        toPolling();
      }
    });
    // The stream ends after the last state (or after minutes, for a long run): one
    // fetch says what the job is now, and polling carries on if it still runs.
    s.addEventListener('end', () => toPolling());
    s.addEventListener('error', () => toPolling());
    silence = setTimeout(toPolling, silenceMs);
  } else {
    void poll();
  }

  return {
    stop: () => finish(),
    get mode() {
      return mode;
    },
  };
}
