// A picture of the views as they are on screen, for a bug report: each view's canvas
// drawn where it sits in the grid, as a PNG data URL. The text overlays (patient name,
// study) are HTML, not canvas, so they stay out of it.
const MAX_WIDTH = 1600; // the report stays well under the server's 8 MiB

export function viewsScreenshot(grid: HTMLElement): string | null {
  const box = grid.getBoundingClientRect();
  const canvases = [...grid.querySelectorAll('canvas')].filter((c) => c.width > 0 && c.height > 0);
  if (canvases.length === 0 || box.width === 0 || box.height === 0) return null;
  const ratio = Math.min(window.devicePixelRatio || 1, MAX_WIDTH / box.width);
  const out = document.createElement('canvas');
  out.width = Math.round(box.width * ratio);
  out.height = Math.round(box.height * ratio);
  const ctx = out.getContext('2d');
  if (!ctx) return null;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, out.width, out.height);
  for (const c of canvases) {
    const r = c.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    ctx.drawImage(c, (r.left - box.left) * ratio, (r.top - box.top) * ratio, r.width * ratio, r.height * ratio);
  }
  return out.toDataURL('image/png');
}
