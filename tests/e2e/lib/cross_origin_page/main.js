// A bare viewer on another origin, loading a series from voxelgate's /dicomweb the way OHIF
// does: QIDO and the series' metadata by fetch (application/dicom+json), the frames through
// Cornerstone3D's own WADO-RS image loader, every request with a bearer token, and one
// image drawn in a stack viewport. Built by lib/cross_origin.mjs with web/'s Vite.
import * as core from '@cornerstonejs/core';
import dicomImageLoader from '@cornerstonejs/dicom-image-loader';

// What OHIF's dicomweb-client asks for (the quotes make Accept a non-safelisted header).
const ACCEPT_FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=*';

let token = '';
let ready = null;

function init() {
  ready ??= (async () => {
    core.init();
    dicomImageLoader.init({
      maxWebWorkers: 1,
      beforeSend: () => ({ Accept: ACCEPT_FRAMES, Authorization: `Bearer ${token}` }),
    });
  })();
  return ready;
}

async function dicomJson(url) {
  const res = await fetch(url, { headers: { Accept: 'application/dicom+json', Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${new URL(url).pathname}`);
  return res.status === 204 ? [] : res.json();
}

const first = (o, tag) => o?.[tag]?.Value?.[0];

// Statistics of what the viewport's canvas shows: how many grey levels and their spread.
function canvasStats(canvas) {
  const ctx = canvas.getContext('2d');
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  let sum = 0;
  let sum2 = 0;
  const n = d.length / 4;
  for (let i = 0; i < d.length; i += 4) {
    seen.add(d[i]);
    sum += d[i];
    sum2 += d[i] * d[i];
  }
  const mean = sum / n;
  return { width: canvas.width, height: canvas.height, distinct: seen.size, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
}

function rendered(element) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no IMAGE_RENDERED within 30 s')), 30_000);
    element.addEventListener(
      core.Enums.Events.IMAGE_RENDERED,
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

// Loads the study's first series and draws its middle image. Returns what a test checks.
window.loadSeries = async ({ base, bearer, study }) => {
  token = bearer;
  await init();
  const series = await dicomJson(`${base}/dicomweb/studies/${study}/series`);
  const seriesUid = first(series[0], '0020000E');
  const prefix = `${base}/dicomweb/studies/${study}/series/${seriesUid}`;
  const instances = await dicomJson(`${prefix}/metadata`);
  instances.sort((a, b) => first(a, '00200013') - first(b, '00200013'));
  const imageIds = instances.map((inst) => {
    const id = `wadors:${prefix}/instances/${first(inst, '00080018')}/frames/1`;
    dicomImageLoader.wadors.metaDataManager.add(id, inst);
    return id;
  });
  const middle = Math.floor(imageIds.length / 2);

  const element = document.getElementById('view');
  const engine = new core.RenderingEngine('cross-origin');
  engine.enableElement({ viewportId: 'stack', type: core.Enums.ViewportType.STACK, element });
  const viewport = engine.getViewport('stack');
  const drawn = rendered(element);
  await viewport.setStack(imageIds, middle);
  viewport.render();
  await drawn;

  const image = await core.imageLoader.loadAndCacheImage(imageIds[middle]);
  const pixels = image.getPixelData();
  let min = Infinity;
  let max = -Infinity;
  for (const v of pixels) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return {
    series: series.map((s) => first(s, '0020000E')),
    instances: instances.length,
    rows: first(instances[middle], '00280010'),
    columns: first(instances[middle], '00280011'),
    bitsAllocated: first(instances[middle], '00280100'),
    image: { rows: image.rows, columns: image.columns, pixels: pixels.length, bytesPerPixel: pixels.BYTES_PER_ELEMENT, min, max },
    canvas: canvasStats(viewport.getCanvas()),
  };
};
