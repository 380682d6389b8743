// The built app the server serves (web/dist); the tests need it built first (make build,
// or `npm run build` in web/).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../integration/lib/env.mjs';

export const webDist = join(repoRoot, 'web', 'dist');

export function requireWebBuild() {
  if (!existsSync(join(webDist, 'index.html'))) {
    throw new Error(`the web app is not built (${webDist}/index.html missing): run 'make build' or 'cd web && npm ci && npm run build'`);
  }
}

// `serve` flags that point the server at this checkout's build (whatever BUILD_DIR is).
export const webArgs = ['--web-root', webDist];
