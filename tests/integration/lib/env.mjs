// Where things are: the repository, the server binary, shared test data, logs, temp dirs.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const binaryPath = process.env.VOXELGATE_BIN ? resolve(process.env.VOXELGATE_BIN) : join(repoRoot, 'build', 'voxelgate');
export const logDir = join(repoRoot, 'build', 'test-logs');
export const sharedData = resolve(repoRoot, '..', 'shared', 'data');
export const makeSeriesScript = join(repoRoot, 'tests', 'tools', 'make_series.py');
export const python = process.env.VOXELGATE_PYTHON || '/usr/bin/python3';
export const keepData = process.env.VOXELGATE_KEEP_DATA === '1';

export function requireBinary() {
  if (!existsSync(binaryPath)) {
    throw new Error(`server binary not found at ${binaryPath}: build it first (or set VOXELGATE_BIN)`);
  }
  return binaryPath;
}

export function sharedDataDir(name) {
  const p = join(sharedData, name);
  return existsSync(p) ? p : null;
}

const tempDirs = new Set();

export function makeTempDir(label) {
  const d = mkdtempSync(join(tmpdir(), `voxelgate-it-${label}-`));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d) {
  if (keepData) return;
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

export function ensureLogDir() {
  mkdirSync(logDir, { recursive: true });
  return logDir;
}

process.on('exit', () => {
  if (keepData) return;
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
