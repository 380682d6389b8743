// Builds the app into web/dist (served by voxelgate at /). Everything is local: the image
// codecs (WebAssembly) and the decode workers are bundled as hashed assets.
// `npm run dev` proxies /api and /dicomweb to VOXELGATE_URL (default http://127.0.0.1:18080).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

// The app's version, sent with bug reports: package version and the commit it was built from.
const here = fileURLToPath(new URL('.', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };
let commit = '';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  /* not a git checkout: the package version alone */
}
const appVersion = `web ${pkg.version}${commit ? `+${commit}` : ''}`;

// Redoc's standalone bundle (npm `redoc`), for the server's API page /api/docs: copied as
// dist/api-docs/redoc.standalone.js (a fixed name the page loads), with its licence notice.
function redocBundle(): Plugin {
  const bundles = `${createRequire(import.meta.url).resolve('redoc/package.json').replace(/package\.json$/, '')}bundles/`;
  return {
    name: 'voxelgate-redoc-bundle',
    apply: 'build',
    generateBundle() {
      for (const file of ['redoc.standalone.js', 'redoc.standalone.js.LICENSE.txt'])
        this.emitFile({ type: 'asset', fileName: `api-docs/${file}`, source: readFileSync(bundles + file) });
    },
  };
}

const target = process.env.VOXELGATE_URL ?? 'http://127.0.0.1:18080';

// The server's Content-Security-Policy, so that dev and preview fail where production would.
const csp =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; font-src 'self' data:; " +
  "object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

const proxy = {
  '/api': { target, changeOrigin: false },
  '/dicomweb': { target, changeOrigin: false },
};

export default defineConfig({
  base: '/',
  plugins: [redocBundle()],
  define: { __APP_VERSION__: JSON.stringify(appVersion) },
  resolve: {
    alias: { xmlbuilder2: fileURLToPath(new URL('./src/shims/xmlbuilder2.ts', import.meta.url)) },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 8000,
    sourcemap: false,
  },
  worker: { format: 'es' },
  optimizeDeps: {
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser'],
  },
  server: { port: 5173, host: '127.0.0.1', proxy, headers: { 'Content-Security-Policy': csp } },
  preview: { port: 4173, host: '127.0.0.1', proxy, headers: { 'Content-Security-Policy': csp } },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
