// A viewer page on another origin (cross_origin_page/): built with web/'s own Vite and
// Cornerstone3D (web/node_modules, nothing installed here), served by a tiny static HTTP
// server of its own, so that its requests to voxelgate are cross-origin.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { repoRoot } from '../../integration/lib/env.mjs';

const pageDir = join(dirname(fileURLToPath(import.meta.url)), 'cross_origin_page');
const webDir = join(repoRoot, 'web');

// Builds the page into outDir with web/vite.config.ts (its worker format, its shims), bare
// imports resolved as web/src would resolve them.
export async function buildPage(outDir) {
  const { build } = await import(pathToFileURL(join(webDir, 'node_modules', 'vite', 'dist', 'node', 'index.js')).href);
  const fromWeb = {
    name: 'resolve-from-web',
    enforce: 'pre',
    async resolveId(id, importer, options) {
      if (!importer?.startsWith(pageDir) || /^[./]/.test(id) || id.startsWith('\0')) return null;
      return this.resolve(id, join(webDir, 'src', 'main.ts'), { ...options, skipSelf: true });
    },
  };
  await build({
    configFile: join(webDir, 'vite.config.ts'),
    root: pageDir,
    logLevel: 'error', // the codecs' Node-only imports warn, in web's own build too
    plugins: [fromWeb],
    build: { outDir, emptyOutDir: true },
  });
}

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
};

// Serves dir on a free loopback port; returns {origin, close}.
export async function servePage(dir) {
  const server = http.createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
