// Debian's Chromium driven by playwright-core (no browser download): headless, no GPU, no
// background networking (the machine has no network). Playwright gives every launch a
// fresh, temporary profile (it refuses a --user-data-dir argument for launch()).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { repoRoot } from '../../integration/lib/env.mjs';

export const chromiumPath = process.env.VOXELGATE_CHROMIUM || '/usr/bin/chromium';
export const artifactsDir = join(repoRoot, 'build', 'e2e-artifacts');

export async function launch() {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      // WebGL on the CPU: the viewer renders volumes with WebGL.
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
    ],
  });
}

export function artifactPath(name) {
  mkdirSync(artifactsDir, { recursive: true });
  return join(artifactsDir, name);
}
