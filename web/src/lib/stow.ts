// STOW-RS: how files are grouped into requests, how one request body is made
// (multipart/related; type="application/dicom") and how the answer is read.

export interface BatchLimits {
  maxFiles: number;
  maxBytes: number;
}

export const DEFAULT_LIMITS: BatchLimits = { maxFiles: 50, maxBytes: 32 * 1024 * 1024 };

// Splits items (in order) into batches of at most maxFiles files and maxBytes bytes; a
// file larger than maxBytes goes alone.
export function planBatches<T extends { size: number }>(items: T[], limits: BatchLimits = DEFAULT_LIMITS): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length >= limits.maxFiles || bytes + item.size > limits.maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export function makeBoundary(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return 'vg-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// One multipart/related body; parts are Blobs (Files), so nothing is read into memory.
export function multipartBody(parts: Blob[], boundary: string): { body: Blob; contentType: string } {
  const pieces: BlobPart[] = [];
  for (const p of parts) {
    pieces.push(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, p, '\r\n');
  }
  pieces.push(`--${boundary}--\r\n`);
  return {
    body: new Blob(pieces),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

type DicomJson = Record<string, { vr?: string; Value?: unknown[] }>;

const FailedSOPSequence = '00081198';
const ReferencedSOPSequence = '00081199';
const ReferencedSOPInstanceUID = '00081155';
const FailureReason = '00081197';
const WarningReason = '00081196';
const ErrorComment = '00000902';

export interface StowFailure {
  sopInstanceUid: string | null;
  reason: number | null;
  comment: string;
}

export interface StowOutcome {
  stored: string[];
  failed: StowFailure[];
}

function first<T>(obj: DicomJson | undefined, tag: string): T | undefined {
  return obj?.[tag]?.Value?.[0] as T | undefined;
}

// Reads a STOW-RS response (DICOM JSON) into stored SOP Instance UIDs and failures.
export function parseStowResponse(json: unknown): StowOutcome {
  const root = (json ?? {}) as DicomJson;
  const refs = (root[ReferencedSOPSequence]?.Value ?? []) as DicomJson[];
  const fails = (root[FailedSOPSequence]?.Value ?? []) as DicomJson[];
  return {
    stored: refs.map((r) => first<string>(r, ReferencedSOPInstanceUID) ?? '').filter((u) => u !== ''),
    failed: fails.map((f) => {
      const reason = first<number>(f, FailureReason) ?? first<number>(f, WarningReason) ?? null;
      return {
        sopInstanceUid: first<string>(f, ReferencedSOPInstanceUID) ?? null,
        reason,
        comment: first<string>(f, ErrorComment) ?? describeFailureReason(reason),
      };
    }),
  };
}

// PS3.18 / PS3.4 failure reasons, for when the server sends no ErrorComment.
export function describeFailureReason(reason: number | null): string {
  switch (reason) {
    case 0x0110:
      return 'processing failure';
    case 0x0111:
      return 'a different object is already stored under this SOP Instance UID';
    case 0x0122:
      return 'SOP class not supported';
    case 0x0124:
      return 'not authorised';
    case 0xa700:
      return 'out of resources';
    case 0xa900:
      return 'data set does not match SOP class';
    case 0xc000:
      return 'cannot understand';
    case null:
      return 'unknown failure';
    default:
      return `failure 0x${reason.toString(16).padStart(4, '0')}`;
  }
}

// Estimates the seconds left from the bytes sent so far (null until there is a rate).
export function secondsLeft(doneBytes: number, totalBytes: number, elapsedMs: number): number | null {
  if (doneBytes <= 0 || elapsedMs < 250) return null;
  const rate = doneBytes / elapsedMs;
  return Math.max(0, Math.round((totalBytes - doneBytes) / rate / 1000));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export function formatDuration(s: number | null): string {
  if (s === null) return '…';
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${s % 60} s`;
}
