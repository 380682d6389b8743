// The segmentation editor: segments (add, rename, recolour, coded term), brush / eraser /
// threshold brush / fill with undo and redo, visibility and opacity, and versions saved to
// and loaded from the server in its geometry grid (slices matched by position), listed by
// origin (made here, by an algorithm, imported from another tool's SEG or RTSTRUCT).
// Versions are immutable: saving always makes a new one, its parent the one shown.
import * as api from '../api/client';
import { ApiError } from '../api/http';
import type { Geometry, SegmentationVersion } from '../api/types';
import { h, toast } from '../lib/dom';
import { compositeLayers, decodeLabels } from '../lib/labelLayers';
import { fromServerOrder, gzip, labelsPresent, mapGrids, toServerOrder, type GridMapping } from '../lib/labelmap';
import { isReadOnly, layerCount, ORIGIN_GROUPS, originGroup, originLabel } from '../lib/segOrigin';
import { core, tools } from './cs';
import type { Mode, Mpr } from './mpr';
import { FillUndo } from './fillUndo';
import { segmentRow, type Segment } from './segmentRow';
import { hexToRgb, termFor, TERMS } from './terms';
import { viewerGrid } from './volumeGrid';

const { volumeLoader, cache, eventTarget, utilities: csUtils } = core;
const { segmentation, Enums: ToolEnums } = tools;
const LABELMAP = ToolEnums.SegmentationRepresentations.Labelmap;


const when = (t: number) => new Date(t * 1000).toLocaleString();
// Segments from elsewhere may come without a colour: neighbours should still differ.
const FALLBACK_COLOURS = ['#e04040', '#40a0e0', '#e0c040', '#a050d0', '#40c070', '#e08030'];

export class SegEditor {
  readonly segmentationId: string;
  private segVolumeId: string;
  private segments: Segment[] = [];
  private active = 1;
  private dirty = false;
  private loading = false;
  private version: SegmentationVersion | null = null;
  private layers = 1; // of the shown version: more than one when its segments overlap
  private overlapToldOnEdit = false;
  private versions: SegmentationVersion[] = [];
  private geometry: Geometry | null = null;
  private mapping: GridMapping | null = null;
  private geometryError: string | null = null;
  private opacity = 0.5;
  private brushSize = 5; // radius, mm
  private threshold: [number, number] = [-400, 400];
  private listeners: [EventTarget, string, EventListener, boolean][] = [];
  private fillUndo = new FillUndo(() => this.labelVolume()?.voxelManager as never);
  private countTimer: number | undefined;
  readonly panel: HTMLElement;
  private list = h('ul.segments', { 'data-testid': 'segments' });
  private history = h('select.versions', { 'data-testid': 'versions', 'aria-label': 'Version' });
  private stateLine = h('p.seg-state', { 'data-testid': 'seg-state' });
  private originLine = h('p.seg-origin', { 'data-testid': 'seg-version-origin', hidden: true });
  private overlapNotice = h('p.notice', { 'data-testid': 'seg-overlap-notice', role: 'note', hidden: true });
  // Under the segment list: what others show about the version (a result's measurements).
  readonly besideSegments = h('div.seg-beside');
  private saveButton!: HTMLButtonElement;
  private undoButton!: HTMLButtonElement;
  private redoButton!: HTMLButtonElement;
  // Told whenever the shown version changes (opened, new, saved): the result panel follows.
  onVersionChange: (shown: SegmentationVersion | null, versions: SegmentationVersion[]) => void = () => {};
  onSaved: (saved: SegmentationVersion) => void = () => {};

  constructor(
    private mpr: Mpr,
    private study: string,
    private series: string,
    readonly canEdit: boolean,
    private setMode: (m: Mode) => void,
    private readOnlyReason = '', // why editing is off, when it is not the role (the subscription)
  ) {
    this.segmentationId = `vg-seg-${series}`;
    this.segVolumeId = `vg-seg-volume-${series}-${mpr.engineId}`;
    this.panel = this.render();
  }

  get hasUnsavedChanges(): boolean {
    return this.dirty;
  }

  get shownVersion(): SegmentationVersion | null {
    return this.version;
  }

  get allVersions(): SegmentationVersion[] {
    return this.versions;
  }

  private on(target: EventTarget, type: string, fn: EventListener, capture = false) {
    target.addEventListener(type, fn, capture);
    this.listeners.push([target, type, fn, capture]);
  }

  // After the image volume exists: the labelmap, the server geometry and the latest version
  // (or `preferred`, a version named in the URL).
  async start(preferred?: number): Promise<void> {
    const vol = this.mpr.imageVolume!;
    volumeLoader.createAndCacheDerivedLabelmapVolume(this.mpr.volumeId, { volumeId: this.segVolumeId });
    segmentation.addSegmentations([
      { segmentationId: this.segmentationId, representation: { type: LABELMAP, data: { volumeId: this.segVolumeId } } },
    ]);
    this.on(eventTarget, ToolEnums.Events.SEGMENTATION_DATA_MODIFIED, ((e: CustomEvent) => {
      if (e.detail?.segmentationId !== this.segmentationId) return;
      if (this.fillUndo.pending && this.fillUndo.finish()) this.updateButtons();
      if (!this.loading) this.markDirty();
      this.scheduleCount();
    }) as EventListener);
    // Cornerstone's fill writes voxels without an undo record: the editor keeps one.
    for (const id of this.mpr.viewportIds) {
      this.on(this.mpr.elements[id], 'mousedown', (() => this.mpr.mode === 'fill' && this.canEdit && this.fillUndo.begin()) as EventListener, true);
    }
    const refreshUndo = () => this.updateButtons();
    this.on(eventTarget, ToolEnums.Events.HISTORY_UNDO, refreshUndo);
    this.on(eventTarget, ToolEnums.Events.HISTORY_REDO, refreshUndo);
    csUtils.HistoryMemo.DefaultHistoryMemo.size = 50; // a new editor starts a new history

    try {
      this.geometry = await api.geometry(this.series);
      this.mapping = mapGrids(viewerGrid(vol), this.geometry);
    } catch (e) {
      this.geometryError = e instanceof ApiError ? e.message : (e as Error).message;
    }
    await this.refreshVersions();
    const first = this.versions.find((v) => v.id === preferred) ?? this.versions[0];
    if (first && this.mapping) await this.open(first.id);
    else this.newSegmentation();
    this.updateButtons();
  }

  // The labelmap joins the views only once there is one to show or the user starts
  // painting: while it is there, every frame of scrolling costs about twice as much on a
  // software GPU (Cornerstone's labelmap upkeep on each camera change).
  private shown: Promise<void> | null = null;

  ensureShown(): Promise<void> {
    this.shown ??= (async () => {
      // Adding the labelmap resets the views' cameras once its actors are in: keep where
      // the user is.
      const cameras = this.mpr.viewportIds.map((id) => [id, this.mpr.viewport(id).getCamera()] as const);
      const map: Record<string, { segmentationId: string }[]> = {};
      for (const id of this.mpr.viewportIds) map[id] = [{ segmentationId: this.segmentationId }];
      await segmentation.addLabelmapRepresentationToViewportMap(map);
      const hasLabelmap = (id: string) =>
        (this.mpr.viewport(id)?.getActors?.() ?? []).some((e) => `${(e as { referencedId?: string }).referencedId}`.includes(this.segVolumeId));
      for (let frame = 0; frame < 120 && !this.mpr.viewportIds.every(hasLabelmap); frame++) {
        await new Promise((r) => requestAnimationFrame(r));
      }
      await new Promise((r) => requestAnimationFrame(r));
      for (const [id, camera] of cameras) this.mpr.viewport(id).setCamera(camera);
      this.applyOpacity();
      for (const s of this.segments) this.applySegmentStyle(s);
      segmentation.segmentIndex.setActiveSegmentIndex(this.segmentationId, this.active);
      this.mpr.viewportIds.forEach((id) => this.mpr.viewport(id)?.render());
      this.mpr.updateOverlays();
    })();
    return this.shown;
  }

  private markDirty() {
    if (!this.dirty) {
      this.dirty = true;
      if (this.layers > 1 && this.canEdit && !this.overlapToldOnEdit) {
        this.overlapToldOnEdit = true;
        toast('Your edits will be saved as a new version with one label per voxel: it will not keep the overlaps.');
      }
    }
    this.updateButtons();
  }

  private labelVolume() {
    return cache.getVolume(this.segVolumeId)!;
  }

  // --- segments ------------------------------------------------------------------------

  private newSegmentation() {
    this.segments = [];
    this.version = null;
    this.setLayers(1);
    this.addSegment(TERMS[0].key, false);
    this.dirty = false;
    this.updateButtons();
    this.onVersionChange(null, this.versions);
  }

  addSegment(termKey = 'lesion', markDirty = true): void {
    const used = new Set(this.segments.map((s) => s.label));
    let label = 1;
    while (used.has(label)) label++;
    if (label > 255) {
      toast('A segmentation holds at most 255 segments.', 'error');
      return;
    }
    const term = TERMS.find((t) => t.key === termKey) ?? TERMS[0];
    this.segments.push({ label, name: term.label, colour: term.colour, category: term.category, type: term.type, visible: true, voxels: 0 });
    this.applySegmentStyle(this.segments[this.segments.length - 1]);
    this.selectSegment(label);
    if (markDirty) this.markDirty();
  }

  selectSegment(label: number): void {
    this.active = label;
    segmentation.segmentIndex.setActiveSegmentIndex(this.segmentationId, label);
    this.renderSegments();
  }

  private applySegmentStyle(s: Segment) {
    if (!this.shown) return; // applied when the labelmap is first shown
    const [r, g, b] = hexToRgb(s.colour);
    for (const vp of this.mpr.viewportIds) {
      try {
        segmentation.config.color.setSegmentIndexColor(vp, this.segmentationId, s.label, [r, g, b, 255]);
        segmentation.config.visibility.setSegmentIndexVisibility(vp, { segmentationId: this.segmentationId, type: LABELMAP }, s.label, s.visible);
      } catch (e) {
        console.warn('segment style', e);
      }
    }
  }

  toggleActiveVisibility(): void {
    const s = this.segments.find((x) => x.label === this.active);
    if (!s) return;
    s.visible = !s.visible;
    this.applySegmentStyle(s);
    this.renderSegments();
  }

  private applyOpacity() {
    segmentation.config.style.setStyle({ type: LABELMAP }, { fillAlpha: this.opacity, fillAlphaInactive: this.opacity * 0.6, outlineOpacity: Math.min(1, this.opacity + 0.3) });
    this.mpr.viewportIds.forEach((id) => this.mpr.viewport(id)?.render());
  }

  private scheduleCount() {
    window.clearTimeout(this.countTimer);
    this.countTimer = window.setTimeout(() => this.countVoxels(), 400);
  }

  private countVoxels() {
    const data = this.labelVolume()?.voxelManager?.getCompleteScalarDataArray?.() as ArrayLike<number> | undefined;
    if (!data) return;
    const counts = new Float64Array(256);
    for (let i = 0; i < data.length; i++) counts[data[i] & 0xff]++;
    for (const s of this.segments) s.voxels = counts[s.label];
    this.renderSegments();
  }

  // --- tools -----------------------------------------------------------------------------

  setBrushSize(size: number): void {
    this.brushSize = Math.max(1, Math.min(50, Math.round(size)));
    tools.utilities.segmentation.setBrushSizeForToolGroup(this.mpr.toolGroupId, this.brushSize);
    const input = this.panel.querySelector('input[name=brush-size]') as HTMLInputElement | null;
    if (input) input.value = String(this.brushSize);
    const out = this.panel.querySelector('[data-role=brush-size]');
    if (out) out.textContent = `${this.brushSize} mm`;
  }

  changeBrushSize(delta: number): void {
    this.setBrushSize(this.brushSize + delta);
  }

  private applyThreshold() {
    // Cornerstone takes the range only while a threshold strategy is active; the view
    // also passes it on whenever the threshold brush is chosen.
    this.mpr.brushThreshold = [Math.min(...this.threshold), Math.max(...this.threshold)];
    tools.utilities.segmentation.setBrushThresholdForToolGroup(this.mpr.toolGroupId, { range: this.mpr.brushThreshold, isDynamic: false, dynamicRadius: 0 });
  }

  undo(): void {
    csUtils.HistoryMemo.DefaultHistoryMemo.undo();
    this.markDirty();
    this.refreshViews();
  }

  redo(): void {
    csUtils.HistoryMemo.DefaultHistoryMemo.redo();
    this.markDirty();
    this.refreshViews();
  }

  private refreshViews() {
    segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(this.segmentationId);
    this.mpr.viewportIds.forEach((id) => this.mpr.viewport(id)?.render());
  }

  // --- versions ----------------------------------------------------------------------------

  private async refreshVersions() {
    try {
      this.versions = await api.segmentations(this.study, this.series);
    } catch (e) {
      this.versions = [];
      this.stateLine.textContent = `Versions could not be listed: ${(e as Error).message}`;
    }
    this.renderHistory();
  }

  async open(id: number): Promise<void> {
    if (!this.mapping || !this.geometry) return;
    this.loading = true;
    await this.ensureShown();
    this.stateLine.textContent = 'Loading segmentation…';
    try {
      const v = this.versions.find((x) => x.id === id) ?? (await api.segmentations(this.study, this.series)).find((x) => x.id === id);
      if (!v) throw new Error('version not found');
      const [nx, ny, nz] = this.geometry.dims;
      const layers = await decodeLabels(await api.segmentationLabels(id), this.geometry.dims);
      const vol = this.labelVolume();
      const data = new Uint8Array(nx * ny * nz);
      // Overlapping segments (layers > 1) are shown in one labelmap: the layers composited
      // in order, a later layer's segment drawn on top of an earlier one's where they overlap
      // (the rule the server follows when it sends them flattened). Editing works on this
      // flattened view, so a saved edit has no overlaps (the notice says so).
      fromServerOrder(compositeLayers(layers), this.mapping, data);
      vol.voxelManager!.setCompleteScalarDataArray!(data as never);
      this.version = v;
      this.setLayers(Math.max(layers.length, layerCount(v)));
      this.segments = v.segments.map((s, i) => ({
        ...s,
        colour: s.colour ?? termFor(s.type)?.colour ?? FALLBACK_COLOURS[i % FALLBACK_COLOURS.length],
        visible: true,
        voxels: 0,
      }));
      for (const s of this.segments) this.applySegmentStyle(s);
      this.active = this.segments[0]?.label ?? 1;
      if (this.segments.length) segmentation.segmentIndex.setActiveSegmentIndex(this.segmentationId, this.active);
      csUtils.HistoryMemo.DefaultHistoryMemo.size = 50;
      this.refreshViews();
      this.dirty = false;
      this.countVoxels();
      this.onVersionChange(v, this.versions);
    } catch (e) {
      toast(`The segmentation could not be opened: ${(e as Error).message}`, 'error');
    } finally {
      // Let the modified events of the load pass before edits count again.
      window.setTimeout(() => {
        this.loading = false;
        this.updateButtons();
      }, 50);
      this.renderHistory();
      this.renderSegments();
    }
  }

  // A version made elsewhere since the list was read (an algorithm's result).
  async openVersion(id: number): Promise<void> {
    if (!this.versions.some((v) => v.id === id)) await this.refreshVersions();
    await this.open(id);
  }

  async save(): Promise<void> {
    if (!this.canEdit) return;
    if (!this.mapping || !this.geometry) {
      toast(`Cannot save: ${this.geometryError ?? 'the series geometry is unknown'}`, 'error');
      return;
    }
    this.saveButton.disabled = true;
    this.stateLine.textContent = 'Saving…';
    try {
      const viewerData = this.labelVolume().voxelManager!.getCompleteScalarDataArray!() as ArrayLike<number>;
      const labels = toServerOrder(viewerData, this.mapping);
      const present = labelsPresent(labels);
      if (present.length === 0) throw new Error('nothing is painted');
      for (const l of present) {
        if (!this.segments.some((s) => s.label === l)) this.segments.push({ label: l, name: `Segment ${l}`, colour: '#e04040', visible: true, voxels: 0 });
      }
      // A SEG holds painted segments only: empty ones are left out (and said so).
      const empty = this.segments.filter((s) => !present.includes(s.label));
      if (empty.length) toast(`Not saved, nothing painted: ${empty.map((s) => s.name).join(', ')}`);
      const saving = this.segments.filter((s) => present.includes(s.label));
      const comment = (this.panel.querySelector('input[name=comment]') as HTMLInputElement).value.trim();
      // Never an overwrite, also of a read-only (imported) version: a new version whose
      // parent is the one shown, without layers (the flattened view is what is saved).
      const meta = {
        segments: saving.map(({ label, name, colour, category, type }) => ({ label, name, colour, category, type })),
        ...(this.version ? { parent_id: this.version.id } : {}),
        ...(comment ? { comment } : {}),
      };
      const saved = await api.saveSegmentation(this.series, meta, await gzip(labels));
      this.version = saved;
      this.setLayers(layerCount(saved));
      this.dirty = false;
      (this.panel.querySelector('input[name=comment]') as HTMLInputElement).value = '';
      await this.refreshVersions();
      toast(`Saved as version ${saved.id}.`);
      this.panel.dataset.savedId = String(saved.id);
      this.onVersionChange(saved, this.versions);
      this.onSaved(saved);
    } catch (e) {
      toast(`Saving failed: ${(e as Error).message}`, 'error');
      this.stateLine.textContent = `Saving failed: ${(e as Error).message}`;
    } finally {
      this.updateButtons();
    }
  }

  // --- rendering -------------------------------------------------------------------------

  private updateButtons() {
    if (this.saveButton) this.saveButton.disabled = !this.canEdit || !this.dirty || !this.mapping;
    if (this.undoButton) this.undoButton.disabled = !csUtils.HistoryMemo.DefaultHistoryMemo.canUndo;
    if (this.redoButton) this.redoButton.disabled = !csUtils.HistoryMemo.DefaultHistoryMemo.canRedo;
    this.panel.dataset.dirty = String(this.dirty);
    const v = this.version;
    const parent = v?.parent_id ? this.versions.find((x) => x.id === v.parent_id) : undefined;
    const base = !v
      ? 'New segmentation'
      : v.source === 'algorithm'
        ? `Result of ${v.algorithm?.name ?? 'an algorithm'} ${v.algorithm?.version ?? ''} (version ${v.id})`
        : isReadOnly(v)
          ? `Version ${v.id}, ${originLabel(v)}${this.canEdit ? ' (kept as it came: saving makes a new version)' : ''}`
          : parent?.source === 'algorithm'
            ? `Version ${v.id} by ${v.author}, correcting ${parent.algorithm?.name ?? 'an algorithm'}'s result`
            : parent && originGroup(parent) === 'imported'
              ? `Version ${v.id} by ${v.author}, edited from version ${parent.id} (${originLabel(parent)})`
              : `Version ${v.id} by ${v.author}`;
    if (this.geometryError) this.stateLine.textContent = `Segmentation unavailable for this series: ${this.geometryError}`;
    else this.stateLine.textContent = `${base}${this.dirty ? ' — unsaved changes' : ''}${this.canEdit ? '' : ' (view only)'}`;
    this.renderOrigin();
  }

  private renderOrigin() {
    const v = this.version;
    this.originLine.hidden = !v;
    if (!v) return;
    const description = v.origin?.series_description ? ` · “${v.origin.series_description}”` : '';
    this.originLine.textContent = `${originLabel(v)}${description}`;
    this.originLine.dataset.source = v.source;
    this.originLine.dataset.format = v.origin?.format ?? '';
  }

  private setLayers(n: number) {
    this.layers = n;
    this.overlapToldOnEdit = false;
    this.overlapNotice.hidden = n <= 1;
    this.overlapNotice.dataset.layers = String(n);
    this.overlapNotice.textContent = n <= 1 ? ''
      : `Some segments overlap (${n} layers). Shown flattened: where they overlap, the later layer's segment is drawn.${this.canEdit ? ' An edit is saved as a new version without the overlaps.' : ''}`;
  }

  // One group per origin (made here, algorithms, imported), newest first within each.
  private renderHistory() {
    const option = (v: SegmentationVersion) =>
      h('option', { value: String(v.id), selected: this.version?.id === v.id, 'data-source': v.source, 'data-origin': originLabel(v) },
        `#${v.id} · ${originLabel(v)} · ${when(v.created_at)}${isReadOnly(v) ? ' · read only' : ''}${layerCount(v) > 1 ? ' · overlapping' : ''}${v.comment ? ` · ${v.comment}` : ''}`);
    const groups = ORIGIN_GROUPS.map((g) => [g, this.versions.filter((v) => originGroup(v) === g)] as const).filter(([, list]) => list.length);
    this.history.replaceChildren(
      h('option', { value: '' }, this.versions.length ? 'Versions…' : 'No saved versions'),
      ...groups.map(([g, list]) => h('optgroup', { label: g, 'data-origin-group': g }, ...list.map(option))),
    );
  }

  private renderSegments() {
    this.list.replaceChildren(
      ...this.segments.map((seg) =>
        segmentRow(seg, {
          active: seg.label === this.active,
          canEdit: this.canEdit,
          select: () => this.selectSegment(seg.label),
          edited: () => this.markDirty(),
          restyled: () => {
            this.applySegmentStyle(seg);
            this.refreshViews();
          },
        }),
      ),
    );
  }

  private render(): HTMLElement {
    const tool = (mode: Mode, label: string, key: string) =>
      h('button.tool', { type: 'button', 'data-mode': mode, title: `${label} (${key})`, onclick: () => this.setMode(mode) }, label);
    this.saveButton = h('button.primary', { type: 'button', 'data-testid': 'seg-save', onclick: () => void this.save() }, 'Save');
    this.undoButton = h('button', { type: 'button', title: 'Undo (Ctrl+Z)', onclick: () => this.undo() }, 'Undo');
    this.redoButton = h('button', { type: 'button', title: 'Redo (Ctrl+Y)', onclick: () => this.redo() }, 'Redo');
    this.history.addEventListener('change', () => {
      const id = Number(this.history.value);
      if (!id) return;
      if (this.dirty && !window.confirm('Discard unsaved changes and open this version?')) {
        this.renderHistory();
        return;
      }
      void this.open(id);
    });
    const size = h('input', { type: 'range', name: 'brush-size', min: 1, max: 50, value: this.brushSize, 'aria-label': 'Brush radius (mm)' });
    size.addEventListener('input', () => this.setBrushSize(Number(size.value)));
    const lo = h('input', { type: 'number', name: 'hu-min', value: this.threshold[0], step: 10, 'aria-label': 'Threshold minimum (HU)' });
    const hi = h('input', { type: 'number', name: 'hu-max', value: this.threshold[1], step: 10, 'aria-label': 'Threshold maximum (HU)' });
    const onThreshold = () => {
      this.threshold = [Number(lo.value), Number(hi.value)];
      this.applyThreshold();
    };
    lo.addEventListener('change', onThreshold);
    hi.addEventListener('change', onThreshold);
    const opacity = h('input', { type: 'range', min: 0, max: 100, value: this.opacity * 100, 'aria-label': 'Opacity' });
    opacity.addEventListener('input', () => {
      this.opacity = Number(opacity.value) / 100;
      this.applyOpacity();
    });
    const addTerm = h('select', { 'aria-label': 'New segment term' }, ...TERMS.map((t) => h('option', { value: t.key }, t.label)));
    const editing = this.canEdit
      ? [
          h('div.row', addTerm, h('button', { type: 'button', 'data-testid': 'seg-add', onclick: () => this.addSegment(addTerm.value) }, '+ Segment')),
          h('div.row.tools', tool('brush', 'Brush', 'B'), tool('eraser', 'Eraser', 'E'), tool('threshold', 'Threshold', 'T'), tool('fill', 'Fill', 'F')),
          h('label.row', 'Radius', size, h('span', { 'data-role': 'brush-size' }, `${this.brushSize} mm`)),
          h('div.row', h('span', 'HU'), lo, h('span', '–'), hi),
          h('div.row', this.undoButton, this.redoButton),
          h('div.row', h('input', { name: 'comment', placeholder: 'comment (optional)', maxlength: 200 }), this.saveButton),
        ]
      : [h('p.notice', { 'data-testid': 'seg-read-only' }, this.readOnlyReason || 'You can view segmentations but not edit them (your clinic has not allowed physicians to edit).')];
    return h('section.seg-panel', { 'data-testid': 'seg-panel' },
      h('h3', 'Segmentation'),
      this.stateLine,
      h('div.row', this.history),
      this.originLine,
      this.overlapNotice,
      this.list,
      this.besideSegments,
      h('label.row', 'Opacity', opacity),
      ...editing,
    );
  }

  afterMount(): void {
    this.setBrushSize(this.brushSize);
    this.applyThreshold();
    this.renderSegments();
  }

  dispose(): void {
    window.clearTimeout(this.countTimer);
    for (const [t, type, fn, capture] of this.listeners) t.removeEventListener(type, fn, capture);
    try {
      segmentation.removeSegmentation(this.segmentationId);
    } catch {
      /* gone */
    }
    cache.removeVolumeLoadObject(this.segVolumeId);
  }
}
