// The viewer page: series picker, MPR views, workflow and tags, segmentation editor.
import { ApiError, enc, supportTenant } from '../api/http';
import { formatDicomDate, formatPersonName, h, toast } from '../lib/dom';
import { navigate, setUnsavedCheck } from '../router';
import { featureGate } from '../lib/subscriptionGate';
import { canAnnotate, canEditSegmentations, canRunAlgorithms, user } from '../session';
import { subscription } from '../subscription';
import { reportProblem } from '../ui/bugReportDialog';
import { helpPanel, key, setShortcuts, type Shortcut } from '../shortcuts';
import { annotationsPanel } from '../viewer/annotationsPanel';
import { initCornerstone } from '../viewer/cs';
import { MeasurementsPanel } from '../viewer/measurementsPanel';
import { Mpr, type Mode } from '../viewer/mpr';
import { PRESETS } from '../viewer/presets';
import { ReferencePanel } from '../viewer/referencePanel';
import { ResultPanel } from '../viewer/resultPanel';
import { RunPanel } from '../viewer/runPanel';
import { viewsScreenshot } from '../viewer/screenshot';
import { SegEditor } from '../viewer/segEditor';
import { isImageSeries, loadStudy, seriesImageIds, type SeriesInfo } from '../viewer/series';

const MODES: { mode: Mode; label: string; key: string }[] = [
  { mode: 'windowLevel', label: 'W/L', key: 'W' },
  { mode: 'crosshairs', label: 'Crosshairs', key: 'C' },
  { mode: 'pan', label: 'Pan', key: 'P' },
  { mode: 'zoom', label: 'Zoom', key: 'Z' },
];

export async function viewerPage(main: HTMLElement, params: string[], query: URLSearchParams, globals: Shortcut[]): Promise<() => void> {
  performance.mark('vg:viewer-open');
  const studyUid = params[0];
  const page = h('div.viewer', { 'data-testid': 'viewer' });
  main.append(page);
  page.append(h('p.state', 'Loading study…'));
  let mpr: Mpr | null = null;
  let editor: SegEditor | null = null;
  let runPanel: RunPanel | null = null;
  let resultPanel: ResultPanel | null = null;
  let measurements: MeasurementsPanel | null = null;
  let reference: ReferencePanel | null = null;
  let disposed = false;
  const cleanup = () => {
    disposed = true;
    setShortcuts([]);
    runPanel?.dispose();
    resultPanel?.dispose();
    measurements?.dispose();
    reference?.dispose();
    editor?.dispose();
    mpr?.dispose();
  };
  // The editor exists once the volume is in; results asked for before that wait for it.
  let editorReady!: (e: SegEditor) => void;
  const editorStarted = new Promise<SegEditor>((resolve) => (editorReady = resolve));

  let study;
  try {
    [study] = await Promise.all([loadStudy(studyUid), initCornerstone()]);
  } catch (e) {
    page.replaceChildren(
      h('div.card.notice', { 'data-testid': e instanceof ApiError && e.status === 404 ? 'not-found' : 'viewer-error' },
        h('h2', e instanceof ApiError && e.status === 404 ? 'Study not found' : 'The study could not be opened'),
        h('p', e instanceof ApiError && e.status === 404 ? 'There is no such study in your clinic.' : (e as Error).message),
        h('p', h('a', { href: '/', 'data-link': true }, 'Back to the worklist'))),
    );
    return cleanup;
  }
  if (disposed) return cleanup;

  const images = study.series.filter(isImageSeries);
  const chosen: SeriesInfo | undefined =
    images.find((s) => s.uid === query.get('series')) ?? [...images].sort((a, b) => b.instances - a.instances)[0];
  const info = study.study;
  const overlay = {
    patient: `${formatPersonName(info.patientName)}  ${info.patientId}`,
    study: `${formatDicomDate(info.date)}  ${info.description}`,
    series: chosen ? `Series ${chosen.number ?? ''} ${chosen.modality} ${chosen.description}` : '',
  };

  const picker = h('ul.series-picker', { 'data-testid': 'series-picker' },
    ...study.series.map((s) =>
      h('li', { class: s.uid === chosen?.uid ? 'active' : '', 'data-series': s.uid },
        h('a', { href: `/studies/${enc(studyUid)}?series=${enc(s.uid)}`, 'data-link': true, title: s.description },
          isImageSeries(s) && !supportTenant() ? h('img', { src: `/dicomweb/studies/${enc(studyUid)}/series/${enc(s.uid)}/thumbnail?viewport=64,64`, alt: '', width: 56, height: 56, loading: 'lazy' }) : h('span.nothumb', s.modality),
          h('span', h('strong', `${s.number ?? ''} ${s.modality}`), h('br'), s.description || '(no description)', h('br'), h('small', `${s.instances} images`)))),
    ),
  );

  const progress = h('progress', { max: 1, value: 0, 'data-testid': 'load-progress' });
  const progressText = h('span.load-text', { 'data-testid': 'load-text' }, '');
  const modeButtons = MODES.map((m) => h('button.tool', { type: 'button', 'data-mode': m.mode, title: `${m.label} (${m.key})`, onclick: () => setMode(m.mode) }, m.label));
  const presetButtons = PRESETS.map((p, i) =>
    h('button', { type: 'button', 'data-preset': p.key, title: `${p.label}: W ${p.width} L ${p.level} (${i + 1})`, onclick: () => applyPreset(i) }, p.label));
  let overlaysOn = true;
  const overlayToggle = h('button', { type: 'button', 'aria-pressed': 'true', title: 'Show or hide overlays (O)', onclick: () => toggleOverlays() }, 'Overlays');
  const crossToggle = h('button', { type: 'button', 'aria-pressed': 'true', title: 'Show or hide the crosshairs (X)', onclick: () => toggleCrosshairs() }, 'Lines');
  const grid = h('div.mpr', { 'data-testid': 'mpr' });
  const right = h('aside.right');
  const segHost = h('div.seg-host');
  const report = () =>
    void reportProblem({
      job: resultPanel?.jobId ? { id: resultPanel.jobId, label: resultPanel.label } : null,
      screenshot: () => viewsScreenshot(grid),
    }).then((filed) => filed && toast(`Report #${filed.id} sent; you will see the vendor's answers under Bug reports.`));
  const toolbar = h('div.viewer-toolbar',
    h('a', { href: '/', 'data-link': true, class: 'back' }, '‹ Worklist'),
    h('span.study-title', `${formatPersonName(info.patientName)} · ${formatDicomDate(info.date)} · ${info.description}`),
    h('span.group', ...modeButtons),
    h('span.group', ...presetButtons),
    overlayToggle,
    crossToggle,
    h('button', { type: 'button', title: 'Reset views (R)', onclick: () => mpr?.resetView() }, 'Reset'),
    h('button', { type: 'button', title: 'Keyboard shortcuts (?)', onclick: () => showHelp() }, '?'),
    canRunAlgorithms() ? h('button', { type: 'button', 'data-testid': 'report-problem', onclick: report }, 'Report a problem') : null,
    h('span.loading', progress, progressText),
  );
  page.replaceChildren(toolbar, h('div.viewer-body', h('aside.left', h('h3', 'Series'), picker, annotationsPanel(studyUid, () => chosen?.uid ?? null)), grid, right));

  if (!chosen) {
    grid.append(h('p.state', 'This study has no image series to show.'));
    return cleanup;
  }

  right.append(segHost);
  if (canRunAlgorithms()) {
    runPanel = new RunPanel(chosen.uid, {
      openResult: async (segmentationId) => {
        const e = await editorStarted;
        if (!disposed) await e.openVersion(segmentationId);
      },
      mayReplaceShown: () => !editor?.hasUnsavedChanges,
    });
    right.prepend(runPanel.element);
  }
  // The runs (and the subscription) are asked for once the images are in: their requests
  // would only delay them.
  let panelsStarted = false;
  const startPanels = () => {
    if (panelsStarted || disposed) return;
    panelsStarted = true;
    void runPanel?.start();
  };

  const showMode = (m: Mode) => {
    for (const b of page.querySelectorAll('button.tool')) b.classList.toggle('on', (b as HTMLElement).dataset.mode === m);
  };
  const setMode = (m: Mode) => {
    if (['brush', 'eraser', 'threshold', 'fill'].includes(m)) {
      if (!editor?.canEdit) return;
      void editor.ensureShown().then(() => {
        mpr?.setMode(m);
        showMode(m);
      });
      return;
    }
    mpr?.setMode(m);
    showMode(m);
  };
  const applyPreset = (i: number) => {
    const p = PRESETS[i];
    if (!p || !mpr) return;
    mpr.setPreset(p);
    for (const b of presetButtons) b.classList.toggle('on', b.dataset.preset === p.key);
    grid.dataset.preset = p.key;
  };
  const toggleOverlays = () => {
    overlaysOn = !overlaysOn;
    mpr?.setOverlaysVisible(overlaysOn);
    overlayToggle.setAttribute('aria-pressed', String(overlaysOn));
  };
  const toggleCrosshairs = () => {
    if (!mpr) return;
    mpr.setCrosshairsVisible(!mpr.crosshairsShown);
    crossToggle.setAttribute('aria-pressed', String(mpr.crosshairsShown));
    showMode(mpr.mode);
  };
  const showHelp = () => {
    const d = helpPanel(globals);
    document.body.append(d);
    d.showModal();
  };

  const shortcuts: Shortcut[] = [
    ...PRESETS.map((p, i) => ({ keys: String(i + 1), match: key(String(i + 1)), what: `Window preset: ${p.label}`, run: () => applyPreset(i) })),
    ...MODES.map((m) => ({ keys: m.key, match: key(m.key), what: `Mouse: ${m.label}`, run: () => setMode(m.mode) })),
    { keys: 'B', match: key('b'), what: 'Brush', run: () => setMode('brush') },
    { keys: 'E', match: key('e'), what: 'Eraser', run: () => setMode('eraser') },
    { keys: 'T', match: key('t'), what: 'Threshold brush (HU range)', run: () => setMode('threshold') },
    { keys: 'F', match: key('f'), what: 'Fill on the slice', run: () => setMode('fill') },
    { keys: '[ / ]', match: (e) => e.key === '[' || e.key === ']', what: 'Brush smaller / larger', run: (e) => editor?.changeBrushSize(e.key === '[' ? -2 : 2) },
    { keys: 'N', match: key('n'), what: 'New segment', run: () => editor?.canEdit && editor.addSegment() },
    { keys: 'H', match: key('h'), what: 'Hide / show the active segment', run: () => editor?.toggleActiveVisibility() },
    { keys: 'Ctrl+Z', match: key('z', { ctrl: true, shift: false }), what: 'Undo', run: () => editor?.canEdit && editor.undo() },
    { keys: 'Ctrl+Y / Ctrl+Shift+Z', match: (e) => key('y', { ctrl: true })(e) || key('z', { ctrl: true, shift: true })(e), what: 'Redo', run: () => editor?.canEdit && editor.redo() },
    { keys: 'Ctrl+S', match: key('s', { ctrl: true }), what: 'Save the segmentation', run: () => void editor?.save() },
    { keys: '↑ / ↓, PgUp / PgDn', match: (e) => ['ArrowUp', 'ArrowDown', 'PageUp', 'PageDown'].includes(e.key) && !e.ctrlKey, what: 'Previous / next slice in the active view', run: (e) => mpr?.scroll({ ArrowUp: -1, ArrowDown: 1, PageUp: -10, PageDown: 10 }[e.key] ?? 0) },
    { keys: 'O', match: key('o'), what: 'Show / hide overlays', run: toggleOverlays },
    { keys: 'X', match: key('x'), what: 'Show / hide the crosshairs', run: toggleCrosshairs },
    { keys: 'R', match: key('r'), what: 'Reset the views', run: () => mpr?.resetView() },
  ];
  setShortcuts(shortcuts);

  mpr = new Mpr(grid, chosen.uid, overlay);
  const started = performance.now();
  mpr.onLoadProgress = (loaded, total) => {
    progress.max = total;
    progress.value = loaded;
    progressText.textContent = loaded >= total ? `${total} images` : `Loading ${loaded} / ${total}`;
  };
  mpr.onFirstImage = () => {
    performance.mark('vg:first-image');
    grid.dataset.firstImageMs = String(Math.round(performance.now() - started));
  };
  let volumeLoaded!: () => void;
  const loaded = new Promise<void>((resolve) => (volumeLoaded = resolve));
  mpr.onLoaded = () => {
    performance.mark('vg:volume-loaded');
    grid.dataset.loadedMs = String(Math.round(performance.now() - started));
    grid.dataset.loaded = 'true';
    volumeLoaded();
  };

  try {
    const imageIds = await seriesImageIds(studyUid, chosen.uid);
    performance.mark('vg:metadata');
    if (disposed) return cleanup;
    if (imageIds.length === 0) throw new Error('the series has no images');
    progressText.textContent = `Loading 0 / ${imageIds.length}`;
    await mpr.load(imageIds);
    if (disposed) return cleanup;
    showMode(mpr.mode);
    // The editor (its labelmap, tool settings, the saved version) waits for the volume:
    // painting needs the voxels, and every render before the slices arrive only delays them.
    const mayEdit = await canEditSegmentations();
    segHost.append(h('p.state', { 'data-role': 'seg-wait' }, 'Segmentation: waiting for the images…'));
    await loaded;
    if (disposed) return cleanup;
    startPanels();
    // Editing needs the role (or the clinic's consent for physicians) and the plan's annotation.
    const annotation = featureGate(await subscription(), 'annotation');
    const canEdit = mayEdit && annotation.allowed;
    const readOnlyReason = mayEdit && !annotation.allowed ? `Editing is disabled: ${annotation.reason}.` : '';
    editor = new SegEditor(mpr, studyUid, chosen.uid, canEdit, setMode, readOnlyReason);
    segHost.replaceChildren(editor.panel);
    editor.afterMount();
    setUnsavedCheck(() => !!editor?.hasUnsavedChanges, 'You have unsaved segmentation changes. Leave and discard them?');
    resultPanel = makeResultPanel(editor, mayEdit, annotation.reason, setMode, report);
    segHost.before(resultPanel.element);
    // Beside the segments: a result's stored measurements (its SR), and the series as a
    // reference case for acceptance runs (the clinic's own people; marking for clinic
    // admins and radiologists).
    const shownMeasurements = (measurements = new MeasurementsPanel());
    reference = canRunAlgorithms() ? new ReferencePanel(chosen.uid, canAnnotate()) : null;
    editor.besideSegments.append(shownMeasurements.element);
    if (reference) {
      segHost.append(reference.element);
      void reference.start();
    }
    const ed = editor;
    const panel = resultPanel;
    const referencePanel = reference;
    ed.onVersionChange = (v, all) => {
      panel.show(v, all);
      shownMeasurements.show(v);
      referencePanel?.show(v);
    };
    ed.onSaved = (v) => panel.saved(v, ed.allVersions);
    await editor.start(Number(query.get('seg')) || undefined);
    editorReady(editor);
    page.dataset.ready = 'true';
  } catch (e) {
    console.error(e);
    startPanels();
    const message = (e as Error).message.startsWith('This series') ? (e as Error).message : `The series could not be shown: ${(e as Error).message}`;
    progressText.textContent = 'not shown';
    segHost.replaceChildren();
    grid.replaceChildren(h('div.card.notice', { 'data-testid': 'viewer-error' }, h('p', message), h('p', 'Choose another series on the left.')));
    grid.classList.add('failed');
  }

  return cleanup;
}

// Feedback on algorithm results shown in the editor; correcting edits the result in place.
function makeResultPanel(editor: SegEditor, mayEdit: boolean, planReason: string, setMode: (m: Mode) => void, report: () => void): ResultPanel {
  const canEdit = editor.canEdit;
  const editDisabledReason = !mayEdit
    ? user?.role === 'physician'
      ? 'your clinic has not allowed physicians to edit segmentations'
      : 'you may not edit segmentations'
    : planReason;
  return new ResultPanel({
    canEdit,
    editDisabledReason,
    canJudge: canRunAlgorithms(),
    reportProblem: () => report(),
    startCorrection: async (result) => {
      const shown = editor.shownVersion;
      const onResult = shown?.id === result.id || shown?.parent_id === result.id;
      if (!onResult) {
        if (editor.hasUnsavedChanges && !window.confirm('Discard your unsaved changes and open the result to correct it?')) return;
        await editor.openVersion(result.id);
      }
      setMode('brush');
      toast('Correcting: paint (B) or erase (E) on the result, then Save. The saved version is compared with the algorithm’s.');
    },
  });
}

export function studyHref(study: string): string {
  return `/studies/${enc(study)}`;
}

export { navigate };
