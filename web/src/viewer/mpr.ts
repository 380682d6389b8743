// Three orthogonal views (axial, sagittal, coronal) of one series' volume, linked by
// crosshairs, with window presets, mouse navigation and per-view overlays (slice number,
// position in patient space, window, cursor position). The volume streams in: each slice
// shows as soon as it arrives, and progress is reported.
import type { Types } from '@cornerstonejs/core';
import { h } from '../lib/dom';
import { core, TOOLS, tools } from './cs';
import { middleOut } from '../lib/order';
import { fromRange, toRange, type Preset } from './presets';

const { Enums: CoreEnums, RenderingEngine, volumeLoader, cache, eventTarget, utilities: csUtils } = core;
const { ToolGroupManager, Enums: ToolEnums } = tools;

export type Mode = 'windowLevel' | 'crosshairs' | 'pan' | 'zoom' | 'brush' | 'eraser' | 'threshold' | 'fill';

export const VIEWS = [
  { id: 'axial', label: 'Axial', orientation: CoreEnums.OrientationAxis.AXIAL, axis: 'Z' },
  { id: 'sagittal', label: 'Sagittal', orientation: CoreEnums.OrientationAxis.SAGITTAL, axis: 'X' },
  { id: 'coronal', label: 'Coronal', orientation: CoreEnums.OrientationAxis.CORONAL, axis: 'Y' },
] as const;

let instance = 0;
const RENDER_EVERY_MS = 1000;
const MIDDLE_WAIT_MS = 3000; // give up waiting for the middle slices and show what there is

export interface OverlayInfo {
  patient: string;
  study: string;
  series: string;
}

export class Mpr {
  readonly engineId = `vg-engine-${++instance}`;
  readonly toolGroupId = `vg-tools-${instance}`;
  readonly volumeId: string;
  readonly elements: Record<string, HTMLDivElement> = {};
  private overlays: Record<string, { tl: HTMLElement; br: HTMLElement; bl: HTMLElement }> = {};
  private engine: InstanceType<typeof RenderingEngine>;
  private volume: Types.IImageVolume | null = null;
  private listeners: [EventTarget, string, EventListener][] = [];
  private resizeObserver: ResizeObserver;
  mode: Mode = 'windowLevel';
  brushThreshold: [number, number] = [-400, 400]; // HU, for the threshold brush
  activeView = 'axial';
  onLoadProgress: (loaded: number, total: number) => void = () => {};
  onFirstImage: () => void = () => {};
  onLoaded: () => void = () => {};

  constructor(
    readonly host: HTMLElement,
    seriesUid: string,
    info: OverlayInfo,
  ) {
    this.volumeId = `cornerstoneStreamingImageVolume:vg-${seriesUid}-${instance}`;
    for (const v of VIEWS) {
      const el = h('div.vp-canvas', { 'data-viewport': v.id }) as HTMLDivElement;
      el.oncontextmenu = (e) => e.preventDefault();
      const tl = h('div.ov.tl', h('div', info.patient), h('div', info.study), h('div', info.series));
      const tr = h('div.ov.tr', v.label);
      const bl = h('div.ov.bl', { 'data-testid': `slice-${v.id}` });
      const br = h('div.ov.br', { 'data-testid': `wl-${v.id}` });
      const cell = h('div.vp', { 'data-view': v.id, onmousedown: () => this.setActiveView(v.id) }, el, tl, tr, bl, br);
      host.append(cell);
      this.elements[v.id] = el;
      this.overlays[v.id] = { tl, bl, br };
      el.addEventListener('mousemove', (e) => this.showCursor(v.id, e));
      el.addEventListener('mouseleave', () => this.showCursor(v.id, null));
    }
    this.setActiveView('axial');
    this.engine = new RenderingEngine(this.engineId);
    // Resizing renders every view: skip the observer's first call (nothing changed yet)
    // and coalesce bursts.
    let observed = false;
    let resizeTimer: number | undefined;
    this.resizeObserver = new ResizeObserver(() => {
      if (!observed) {
        observed = true;
        return;
      }
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(() => this.engine.resize(true, true), 100);
    });
    this.resizeObserver.observe(host);
  }

  private on(target: EventTarget, type: string, fn: EventListener) {
    target.addEventListener(type, fn);
    this.listeners.push([target, type, fn]);
  }

  viewport(id: string): Types.IVolumeViewport {
    return this.engine.getViewport(id) as Types.IVolumeViewport;
  }

  get viewportIds(): string[] {
    return VIEWS.map((v) => v.id);
  }

  get imageVolume(): Types.IImageVolume | null {
    return this.volume;
  }

  setActiveView(id: string): void {
    this.activeView = id;
    for (const cell of this.host.querySelectorAll('.vp')) cell.classList.toggle('active', (cell as HTMLElement).dataset.view === id);
  }

  async load(imageIds: string[]): Promise<void> {
    this.engine.setViewports(
      VIEWS.map((v) => ({
        viewportId: v.id,
        type: CoreEnums.ViewportType.ORTHOGRAPHIC,
        element: this.elements[v.id],
        defaultOptions: { orientation: v.orientation, background: [0, 0, 0] as Types.Point3 },
      })),
    );
    this.setupTools();
    const volume = await volumeLoader.createAndCacheVolume(this.volumeId, { imageIds });
    performance.mark('vg:volume-created');
    this.volume = volume;
    const total = imageIds.length;
    // The middle slices (where the views open) arrive first; the views get the volume only
    // then, so that no render of empty views holds up the slices' processing.
    let middleArrived!: () => void;
    const middle = new Promise<void>((resolve) => (middleArrived = resolve));
    const n = imageIds.length;
    const middleIndices = [Math.floor((n - 1) / 2), Math.ceil((n - 1) / 2)];
    const cached = () => (volume as unknown as { cachedFrames: number[] }).cachedFrames ?? [];
    this.on(eventTarget, CoreEnums.Events.IMAGE_VOLUME_MODIFIED, ((e: CustomEvent) => {
      if (e.detail.volumeId !== this.volumeId) return;
      this.onLoadProgress(e.detail.framesProcessed, total);
      if (e.detail.framesProcessed === 1) performance.mark('vg:first-frame');
      if (middleIndices.every((k) => cached()[k])) middleArrived();
      if (this.viewportsReady) this.scheduleRender();
    }) as EventListener);
    this.on(eventTarget, CoreEnums.Events.IMAGE_VOLUME_LOADING_COMPLETED, ((e: CustomEvent) => {
      if (e.detail.volumeId !== this.volumeId) return;
      middleArrived();
      this.onLoadProgress(total, total);
      void this.viewportsSet.then(() => {
        this.renderNow();
        this.updateOverlays();
        this.onLoaded();
      });
    }) as EventListener);
    for (const v of VIEWS) {
      this.on(this.elements[v.id], CoreEnums.Events.CAMERA_MODIFIED, () => this.updateOverlay(v.id));
      this.on(this.elements[v.id], CoreEnums.Events.VOI_MODIFIED, () => this.updateOverlay(v.id));
    }
    // Rendering while the volume streams in costs more than the loading itself on a slow
    // (software) GPU: the views are redrawn at most every RENDER_EVERY_MS, not at every
    // 2 % as Cornerstone would.
    (volume as unknown as { autoRenderOnLoad: boolean }).autoRenderOnLoad = false;
    this.loadFromTheMiddle(volume);
    (volume as unknown as Types.IStreamingImageVolume).load();
    await Promise.race([middle, new Promise((r) => setTimeout(r, MIDDLE_WAIT_MS))]);
    await core.setVolumesForViewports(this.engine, [{ volumeId: this.volumeId }], this.viewportIds);
    performance.mark('vg:viewports-ready');
    this.viewportsReady = true;
    this.markViewportsSet();
    // The axial view first (the first image), the other two a frame later.
    this.viewport('axial').render();
    requestAnimationFrame(() => this.renderNow());
    this.updateOverlays();
    requestAnimationFrame(() => {
      if (this.currentSliceLoaded('axial')) this.onFirstImage();
      else
        void middle.then(() => {
          this.renderNow();
          requestAnimationFrame(() => this.onFirstImage());
        });
    });
  }

  private viewportsReady = false;
  private markViewportsSet!: () => void;
  private viewportsSet = new Promise<void>((resolve) => (this.markViewportsSet = resolve));

  private renderTimer: number | undefined;
  private lastRender = 0;

  private renderNow() {
    window.clearTimeout(this.renderTimer);
    this.renderTimer = undefined;
    this.lastRender = performance.now();
    this.engine.renderViewports(this.viewportIds);
  }

  private scheduleRender() {
    if (this.renderTimer !== undefined) return;
    const wait = Math.max(0, RENDER_EVERY_MS - (performance.now() - this.lastRender));
    this.renderTimer = window.setTimeout(() => this.renderNow(), wait);
  }

  // The views open on the middle slice, so slices are fetched from the middle outwards:
  // the first image does not wait for the rest of the series. (Cornerstone queues the
  // requests in reverse, hence the reversed list.)
  private loadFromTheMiddle(volume: Types.IImageVolume) {
    const v = volume as unknown as { getImageLoadRequests: (p: number) => unknown[] };
    const original = v.getImageLoadRequests.bind(volume);
    v.getImageLoadRequests = (priority: number) => {
      const requests = original(priority);
      const order = middleOut(requests.length);
      return order.map((i) => requests[i]).reverse();
    };
  }

  private setupTools() {
    const group = ToolGroupManager.createToolGroup(this.toolGroupId)!;
    for (const id of this.viewportIds) group.addViewport(id, this.engineId);
    group.addTool(TOOLS.windowLevel);
    group.addTool(TOOLS.pan);
    group.addTool(TOOLS.zoom);
    group.addTool(TOOLS.scroll);
    group.addTool(TOOLS.crosshairs, {
      getReferenceLineColor: (id: string) => ({ axial: 'rgb(230, 80, 80)', sagittal: 'rgb(240, 200, 60)', coronal: 'rgb(80, 200, 80)' })[id] ?? 'rgb(200,200,200)',
      getReferenceLineControllable: () => true,
      getReferenceLineDraggableRotatable: () => false,
      getReferenceLineSlabThicknessControlsOn: () => false,
    });
    group.addTool(TOOLS.brush, { activeStrategy: 'FILL_INSIDE_CIRCLE', brushSize: 5 });
    group.addTool(TOOLS.paintFill);
    group.setToolActive(TOOLS.pan, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Auxiliary }] });
    group.setToolActive(TOOLS.zoom, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Secondary }] });
    group.setToolActive(TOOLS.scroll, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Wheel }] });
    this.setMode('windowLevel');
  }

  get toolGroup() {
    return ToolGroupManager.getToolGroup(this.toolGroupId)!;
  }

  private crosshairsVisible = true;

  setCrosshairsVisible(visible: boolean): void {
    this.crosshairsVisible = visible;
    this.setMode(this.mode === 'crosshairs' && !visible ? 'windowLevel' : this.mode);
    this.viewportIds.forEach((id) => this.viewport(id)?.render());
  }

  get crosshairsShown(): boolean {
    return this.crosshairsVisible;
  }

  setMode(mode: Mode): void {
    const group = this.toolGroup;
    if (!group) return;
    if (mode === 'crosshairs' && !this.crosshairsVisible) this.crosshairsVisible = true;
    this.mode = mode;
    const primary = [{ mouseButton: ToolEnums.MouseBindings.Primary }];
    for (const t of [TOOLS.windowLevel, TOOLS.brush, TOOLS.paintFill]) group.setToolPassive(t);
    if (this.crosshairsVisible) group.setToolEnabled(TOOLS.crosshairs);
    else group.setToolDisabled(TOOLS.crosshairs);
    const brushStrategy = { brush: 'FILL_INSIDE_CIRCLE', eraser: 'ERASE_INSIDE_CIRCLE', threshold: 'THRESHOLD_INSIDE_CIRCLE' } as Record<string, string>;
    switch (mode) {
      case 'windowLevel':
        group.setToolActive(TOOLS.windowLevel, { bindings: primary });
        break;
      case 'crosshairs':
        group.setToolActive(TOOLS.crosshairs, { bindings: primary });
        break;
      case 'pan':
        group.setToolActive(TOOLS.pan, { bindings: [...primary, { mouseButton: ToolEnums.MouseBindings.Auxiliary }] });
        break;
      case 'zoom':
        group.setToolActive(TOOLS.zoom, { bindings: [...primary, { mouseButton: ToolEnums.MouseBindings.Secondary }] });
        break;
      case 'brush':
      case 'eraser':
      case 'threshold':
        group.setToolConfiguration(TOOLS.brush, {
          activeStrategy: brushStrategy[mode],
          threshold: { range: this.brushThreshold, isDynamic: false, dynamicRadius: 0 },
        });
        group.setToolActive(TOOLS.brush, { bindings: primary });
        break;
      case 'fill':
        group.setToolActive(TOOLS.paintFill, { bindings: primary });
        break;
    }
    // Pan and zoom keep their own buttons unless the primary button took them.
    if (mode !== 'pan') group.setToolActive(TOOLS.pan, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Auxiliary }] });
    if (mode !== 'zoom') group.setToolActive(TOOLS.zoom, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Secondary }] });
    this.host.dataset.mode = mode;
  }

  setPreset(p: Preset | { width: number; level: number }): void {
    for (const id of this.viewportIds) {
      const vp = this.viewport(id);
      vp.setProperties({ voiRange: toRange(p) });
      vp.render();
    }
    this.updateOverlays();
  }

  // Moves the active (or given) view by `delta` slices.
  scroll(delta: number, viewId = this.activeView): void {
    const vp = this.viewport(viewId);
    if (!vp) return;
    csUtils.scroll(vp as never, { delta, volumeId: this.volumeId });
  }

  resetView(): void {
    for (const id of this.viewportIds) {
      const vp = this.viewport(id);
      vp.resetCamera();
      vp.resetProperties?.(this.volumeId);
      vp.render();
    }
    this.updateOverlays();
  }

  setOverlaysVisible(visible: boolean): void {
    this.host.classList.toggle('no-overlays', !visible);
  }

  // Is the slice shown in a view already loaded?
  private currentSliceLoaded(viewId: string): boolean {
    const vol = this.volume as (Types.IImageVolume & { cachedFrames?: number[] }) | null;
    const vp = this.viewport(viewId);
    if (!vol || !vp || !vol.cachedFrames) return false;
    const fp = vp.getCamera().focalPoint;
    if (!fp) return false;
    const ijk = csUtils.transformWorldToIndex(vol.imageData!, fp);
    const k = Math.round(ijk[2]);
    return !!vol.cachedFrames[k];
  }

  sliceInfo(viewId: string): { index: number; count: number; position: number } | null {
    const vp = this.viewport(viewId);
    if (!vp || !this.volume) return null;
    const data = csUtils.getImageSliceDataForVolumeViewport(vp);
    if (!data) return null;
    const v = VIEWS.find((x) => x.id === viewId)!;
    const fp = vp.getCamera().focalPoint ?? [0, 0, 0];
    const position = v.axis === 'X' ? fp[0] : v.axis === 'Y' ? fp[1] : fp[2];
    return { index: data.imageIndex, count: data.numberOfSlices, position };
  }

  updateOverlays(): void {
    for (const id of this.viewportIds) this.updateOverlay(id);
  }

  private updateOverlay(viewId: string) {
    const info = this.sliceInfo(viewId);
    const o = this.overlays[viewId];
    const v = VIEWS.find((x) => x.id === viewId)!;
    if (info) {
      o.bl.dataset.slice = String(info.index + 1);
      o.bl.replaceChildren(
        h('div', { 'data-role': 'slice' }, `Slice ${info.index + 1} / ${info.count}`),
        h('div', { 'data-role': 'position' }, `${v.axis} ${info.position.toFixed(1)} mm`),
        o.bl.querySelector('[data-role=cursor]') ?? h('div', { 'data-role': 'cursor' }),
      );
    }
    const props = this.viewport(viewId)?.getProperties(this.volumeId);
    if (props?.voiRange) {
      const { width, level } = fromRange(props.voiRange);
      o.br.textContent = `W ${Math.round(width)}  L ${Math.round(level)}`;
    }
  }

  // Patient-space position and voxel under the mouse.
  private showCursor(viewId: string, e: MouseEvent | null) {
    const line = this.overlays[viewId].bl.querySelector('[data-role=cursor]') as HTMLElement | null;
    if (!line) return;
    if (!e || !this.volume) {
      line.textContent = '';
      return;
    }
    const el = this.elements[viewId];
    const rect = el.getBoundingClientRect();
    const world = this.viewport(viewId).canvasToWorld([e.clientX - rect.left, e.clientY - rect.top]);
    const ijk = csUtils.transformWorldToIndex(this.volume.imageData!, world);
    line.dataset.world = world.map((x) => x.toFixed(2)).join(',');
    line.textContent = `(${world.map((x) => x.toFixed(1)).join(', ')}) mm  [${ijk.join(', ')}]`;
  }

  dispose(): void {
    window.clearTimeout(this.renderTimer);
    this.resizeObserver.disconnect();
    for (const [t, type, fn] of this.listeners) t.removeEventListener(type, fn);
    try {
      ToolGroupManager.destroyToolGroup(this.toolGroupId);
    } catch {
      /* already gone */
    }
    try {
      this.engine.destroy();
    } catch {
      /* already gone */
    }
    const vol = cache.getVolume(this.volumeId) as (Types.IImageVolume & { cancelLoading?: () => void }) | undefined;
    vol?.cancelLoading?.();
    cache.removeVolumeLoadObject(this.volumeId);
  }
}
