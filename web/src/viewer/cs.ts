// Cornerstone3D set-up, once per page: rendering, the DICOM image loader over WADO-RS
// (same origin, session cookie), local codecs and workers, and the tools the viewer uses.
import * as core from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import dicomImageLoader from '@cornerstonejs/dicom-image-loader';
import { tenantHeaders } from '../api/http';

let ready: Promise<void> | null = null;

export const TOOLS = {
  windowLevel: tools.WindowLevelTool.toolName,
  pan: tools.PanTool.toolName,
  zoom: tools.ZoomTool.toolName,
  scroll: tools.StackScrollTool.toolName,
  crosshairs: tools.CrosshairsTool.toolName,
  brush: tools.BrushTool.toolName,
  paintFill: tools.PaintFillTool.toolName,
};

export function initCornerstone(): Promise<void> {
  ready ??= (async () => {
    core.init();
    dicomImageLoader.init({
      maxWebWorkers: Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1)),
      useLegacyMetadataProvider: true,
      beforeSend: () => tenantHeaders(),
    });
    tools.init();
    for (const t of [
      tools.WindowLevelTool,
      tools.PanTool,
      tools.ZoomTool,
      tools.StackScrollTool,
      tools.CrosshairsTool,
      tools.BrushTool,
      tools.PaintFillTool,
    ]) {
      tools.addTool(t);
    }
  })();
  return ready;
}

export { core, tools, dicomImageLoader };
