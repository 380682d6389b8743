// A cluster's shared storage for test servers: a PostgreSQL schema and an S3 prefix of
// their own in the engines scripts/with-engines started (VOXELGATE_TEST_PG_URI,
// S3_ENDPOINT), and the master key every node of that cluster is given. Servers made
// with the same SharedStorage are nodes of one cluster.
//
// VOXELGATE_TEST_STORAGE=shared makes every test server use a storage of its own, so the
// single-machine suites also run on PostgreSQL and S3.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { binaryPath, makeTempDir } from './env.mjs';

export function sharedEnginesMissing() {
  if (!process.env.VOXELGATE_TEST_PG_URI) return 'VOXELGATE_TEST_PG_URI is not set (make test starts PostgreSQL)';
  if (!process.env.S3_ENDPOINT) return 'S3_ENDPOINT is not set (make test starts an S3)';
  return null;
}

export const everyServerShared = process.env.VOXELGATE_TEST_STORAGE === 'shared';

export class SharedStorage {
  constructor(label = 'cluster') {
    const missing = sharedEnginesMissing();
    if (missing) throw new Error(`shared storage: ${missing}`);
    const id = randomBytes(4).toString('hex');
    this.schema = `it_${label.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 20)}_${id}`;
    this.adminUri = process.env.VOXELGATE_TEST_PG_URI;
    execFileSync('psql', [this.adminUri, '-qXc', `CREATE SCHEMA ${this.schema}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    const sep = this.adminUri.includes('?') ? '&' : '?';
    this.catalog = `${this.adminUri}${sep}options=-csearch_path%3D${this.schema}`;
    this.blobs = `s3://vg-it/${this.schema}`;
    // The cluster's keys, made as an operator makes them; every node is given them.
    const keys = join(makeTempDir(`${label}-keys`), 'keys');
    execFileSync(binaryPath, ['admin', 'keys', 'init', '--dir', keys], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.masterKeyFile = join(keys, 'master.key');
  }

  // The flags every serve, worker and admin of this cluster takes.
  get args() {
    return ['--catalog', this.catalog, '--blob-store', this.blobs, '--s3-endpoint', process.env.S3_ENDPOINT];
  }

  get env() {
    return { VOXELGATE_MASTER_KEY_FILE: this.masterKeyFile };
  }

  // SQL against the cluster's catalog (tests that look at what the catalog holds).
  sql(statement) {
    return execFileSync('psql', [this.catalog, '-qXAtc', statement], { encoding: 'utf8' }).trim();
  }

  dispose() {
    try {
      execFileSync('psql', [this.adminUri, '-qXc', `DROP SCHEMA ${this.schema} CASCADE`], { stdio: 'ignore' });
    } catch {}
  }
}
