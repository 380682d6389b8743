// Upload: drop files or folders (or pick them); non-DICOM files are skipped and listed;
// the rest go up in STOW-RS batches with progress; failures are listed per file with the
// server's reason, and a failed batch can be sent again.
import { authHeaders, enc } from '../api/http';
import { readFileUids } from '../lib/dicomHeader';
import { isDicomFile } from '../lib/dicomSniff';
import { h } from '../lib/dom';
import { formatBytes, formatDuration, makeBoundary, multipartBody, parseStowResponse, planBatches, secondsLeft, type StowOutcome } from '../lib/stow';
import { setUnsavedCheck } from '../router';

interface Item {
  file: File;
  name: string; // relative path when known
  size: number;
  sop?: string;
  study?: string;
}

interface Batch {
  items: Item[];
  state: 'waiting' | 'sending' | 'done' | 'partial' | 'failed';
  error?: string;
  row?: HTMLElement;
}

// Files of a drop, folders walked recursively.
async function droppedFiles(dt: DataTransfer): Promise<{ file: File; name: string }[]> {
  const entries = Array.from(dt.items)
    .map((i) => i.webkitGetAsEntry?.())
    .filter((e): e is FileSystemEntry => !!e);
  if (entries.length === 0) return Array.from(dt.files).map((f) => ({ file: f, name: f.name }));
  const out: { file: File; name: string }[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      out.push({ file, name: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

function sendBatch(body: Blob, contentType: string, onProgress: (sent: number) => void): Promise<{ status: number; json: unknown; text: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/dicomweb/studies');
    xhr.setRequestHeader('Content-Type', contentType);
    xhr.setRequestHeader('Accept', 'application/dicom+json');
    for (const [k, v] of Object.entries(authHeaders('POST'))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      let json: unknown;
      try {
        json = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status: xhr.status, json, text: xhr.responseText });
    };
    xhr.onerror = () => reject(new Error('the connection to the server failed'));
    xhr.send(body);
  });
}

function errorMessage(status: number, json: unknown, text: string): string {
  const j = json as { error?: { message?: string } } | undefined;
  if (j?.error?.message) return `${status}: ${j.error.message}`;
  if (status === 401) return 'signed out: sign in again and retry';
  if (status === 413) return 'the batch is larger than the server accepts';
  return `${status}${text && text.length < 200 ? `: ${text}` : ''}`;
}

export function uploadPage(main: HTMLElement): () => void {
  let busy = false;
  const picker = h('input', { type: 'file', multiple: true, hidden: true, 'data-testid': 'file-input' });
  const folderPicker = h('input', { type: 'file', multiple: true, hidden: true, webkitdirectory: true, 'data-testid': 'folder-input' });
  const drop = h(
    'div.dropzone',
    { tabindex: 0, 'data-testid': 'dropzone' },
    h('p', h('strong', 'Drop DICOM files or a folder here')),
    h('p', 'or ', h('button', { type: 'button', onclick: () => picker.click() }, 'choose files'), ' ', h('button', { type: 'button', onclick: () => folderPicker.click() }, 'choose a folder')),
    picker,
    folderPicker,
  );
  const bar = h('progress', { max: 1, value: 0 });
  const summary = h('p.progress-text', { 'data-testid': 'upload-progress' }, '');
  const skippedList = h('ul.skipped', { 'data-testid': 'skipped' });
  const failedList = h('ul.failures', { 'data-testid': 'failures' });
  const batchList = h('ul.batches', { 'data-testid': 'batches' });
  const done = h('div.upload-done', { 'data-testid': 'upload-done' });
  const progressBox = h('div.card.upload-progress', { hidden: true }, bar, summary, batchList);
  main.append(
    h('div.page', h('h2', 'Upload'), drop, progressBox, done,
      h('details.card', { open: true, hidden: true, 'data-section': 'failures' }, h('summary', 'Errors'), failedList),
      h('details.card', { hidden: true, 'data-section': 'skipped' }, h('summary', 'Skipped (not DICOM)'), skippedList)),
  );

  setUnsavedCheck(() => busy, 'An upload is in progress. Leave the page and stop it?');

  let totalBytes = 0;
  let sentBytes = 0;
  let totalFiles = 0;
  let doneFiles = 0;
  let started = 0;
  const studies = new Set<string>();

  const updateProgress = (inFlight = 0) => {
    const sent = sentBytes + inFlight;
    bar.max = Math.max(1, totalBytes);
    bar.value = sent;
    const left = secondsLeft(sent, totalBytes, performance.now() - started);
    summary.textContent = `${doneFiles} of ${totalFiles} files · ${formatBytes(sent)} of ${formatBytes(totalBytes)} · ${busy ? `about ${formatDuration(left)} left` : 'finished'}`;
  };

  const showOutcome = (batch: Batch, outcome: StowOutcome) => {
    const bySop = new Map(batch.items.filter((i) => i.sop).map((i) => [i.sop!, i]));
    for (const f of outcome.failed) {
      const item = f.sopInstanceUid ? bySop.get(f.sopInstanceUid) : undefined;
      const who = item?.name ?? (f.sopInstanceUid ? `instance ${f.sopInstanceUid}` : 'a file of this batch');
      failedList.parentElement!.hidden = false;
      failedList.append(h('li', { 'data-file': item?.name ?? '' }, h('strong', who), `: ${f.comment}`, f.reason !== null ? ` (0x${f.reason.toString(16).padStart(4, '0')})` : ''));
    }
  };

  const run = async (batch: Batch) => {
    batch.state = 'sending';
    renderBatch(batch);
    const { body, contentType } = multipartBody(batch.items.map((i) => i.file), makeBoundary());
    const batchBytes = batch.items.reduce((a, i) => a + i.size, 0);
    try {
      const res = await sendBatch(body, contentType, (loaded) => updateProgress(Math.min(batchBytes, (loaded / body.size) * batchBytes)));
      if (res.status === 200 || res.status === 202 || res.status === 409) {
        const outcome = parseStowResponse(res.json);
        showOutcome(batch, outcome);
        batch.state = outcome.failed.length === 0 ? 'done' : outcome.stored.length > 0 ? 'partial' : 'failed';
        if (batch.state === 'failed') batch.error = `${outcome.failed.length} instances refused`;
        if (batch.state !== 'failed') {
          sentBytes += batchBytes;
          doneFiles += batch.items.length;
          for (const i of batch.items) if (i.study) studies.add(i.study);
        }
      } else {
        batch.state = 'failed';
        batch.error = errorMessage(res.status, res.json, res.text);
      }
    } catch (e) {
      batch.state = 'failed';
      batch.error = (e as Error).message;
    }
    renderBatch(batch);
    updateProgress();
  };

  const renderBatch = (batch: Batch) => {
    const i = batches.indexOf(batch) + 1;
    const label = `Batch ${i}: ${batch.items.length} files, ${formatBytes(batch.items.reduce((a, x) => a + x.size, 0))}`;
    const row = h('li', { class: `b-${batch.state}`, 'data-state': batch.state }, `${label} — ${batch.state}${batch.error ? ` (${batch.error})` : ''}`);
    if (batch.state === 'failed' && !busy) {
      row.append(' ', h('button', { type: 'button', onclick: () => retry(batch) }, 'Retry'));
    }
    if (batch.row) batch.row.replaceWith(row);
    else batchList.append(row);
    batch.row = row;
  };

  let batches: Batch[] = [];

  const finish = () => {
    busy = false;
    batches.forEach(renderBatch);
    updateProgress();
    done.replaceChildren();
    if (studies.size) {
      done.append(
        h('p', `Stored in ${studies.size} ${studies.size === 1 ? 'study' : 'studies'}: `),
        h('ul', ...Array.from(studies).map((s) => h('li', h('a', { href: `/studies/${enc(s)}`, 'data-link': true, 'data-testid': 'uploaded-study' }, `Open study ${s}`)))),
        h('p', h('a', { href: '/', 'data-link': true }, 'Back to the worklist')),
      );
    }
  };

  const retry = async (batch: Batch) => {
    if (busy) return;
    busy = true;
    batch.error = undefined;
    started = performance.now();
    await run(batch);
    finish();
  };

  const start = async (files: { file: File; name: string }[]) => {
    if (busy || files.length === 0) return;
    busy = true;
    progressBox.hidden = false;
    summary.textContent = `Checking ${files.length} files…`;
    const items: Item[] = [];
    const check = async (f: { file: File; name: string }) => {
      if (await isDicomFile(f.file)) {
        const uids = await readFileUids(f.file);
        items.push({ file: f.file, name: f.name, size: f.file.size, sop: uids.sopInstanceUid, study: uids.studyInstanceUid });
      } else {
        skippedList.parentElement!.hidden = false;
        skippedList.append(h('li', f.name));
      }
    };
    for (let i = 0; i < files.length; i += 32) await Promise.all(files.slice(i, i + 32).map(check));
    items.sort((a, b) => a.name.localeCompare(b.name));
    const skipped = files.length - items.length;
    if (skipped) (skippedList.parentElement as HTMLDetailsElement).open = true;
    const planned = planBatches(items).map((b) => ({ items: b, state: 'waiting' as const }) as Batch);
    batches = batches.concat(planned);
    planned.forEach(renderBatch);
    // Progress counts this drop (or pick) only.
    started = performance.now();
    sentBytes = 0;
    doneFiles = 0;
    totalBytes = items.reduce((a, i) => a + i.size, 0);
    totalFiles = items.length;
    updateProgress();
    for (const b of planned) await run(b);
    finish();
    if (skipped) done.prepend(h('p.warn', { 'data-testid': 'skipped-count' }, `${skipped} ${skipped === 1 ? 'file was' : 'files were'} not DICOM and skipped.`));
  };

  picker.addEventListener('change', () => void start(Array.from(picker.files ?? []).map((f) => ({ file: f, name: f.name }))));
  folderPicker.addEventListener('change', () => void start(Array.from(folderPicker.files ?? []).map((f) => ({ file: f, name: f.webkitRelativePath || f.name }))));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer) void start(await droppedFiles(e.dataTransfer));
  });
  return () => setUnsavedCheck(null);
}
