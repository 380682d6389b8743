// Starts the real voxelgate binary on a free loopback port with its own data dir, runs
// its admin CLI, and stops it (SIGTERM), kills it (SIGKILL) or restarts it. The server's
// stderr (JSON log lines) goes to build/test-logs/NAME-*.log, stdout to *.stdout.log.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binaryPath, ensureLogDir, makeTempDir, removeTempDir, requireBinary } from './env.mjs';
import { request } from './http.mjs';
import { everyServerShared, SharedStorage } from './shared_storage.mjs';
import { eventually } from './wait.mjs';

const execFileP = promisify(execFile);
const live = new Set();

process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
});

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await new Promise((r, j) => {
    srv.once('listening', r);
    srv.once('error', j);
  });
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

export class VoxelgateServer {
  // name: used for the log file and the temp dir; args: extra `serve` flags; storage: a
  // SharedStorage (the cluster this server is a node of; see shared_storage.mjs).
  constructor({ name = 'server', dataDir, args = [], env = {}, wrap = null, algorithmsRoot = tmpdir(), storage = null } = {}) {
    requireBinary();
    this.name = name;
    this.wrap = wrap;
    this.ownsDataDir = !dataDir;
    this.dataDir = dataDir ?? makeTempDir(name);
    // A DICOM listener on a free port unless the test picks one: the default 11112 would
    // clash between servers and with anything else on the machine.
    this.args = args.includes('--dicom-listen') ? args : ['--dicom-listen', '127.0.0.1:0', ...args];
    // Test algorithms live in temporary folders (makeTempDir): the algorithms root is the
    // temporary folder, which holds them and the data folders side by side.
    this.algorithmsRoot = algorithmsRoot;
    if (!this.args.includes('--algorithms-root')) this.args = ['--algorithms-root', algorithmsRoot, ...this.args];
    this.ownsStorage = !storage && everyServerShared;
    this.storage = storage ?? (everyServerShared ? new SharedStorage(name) : null);
    if (this.storage) this.args = [...this.args, ...this.storage.args];
    this.env = { ...(this.storage?.env ?? {}), ...env };
    this.child = null;
    this.port = null;
    this.exitInfo = null;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    this.logPath = join(ensureLogDir(), `${name}-${stamp}-${process.pid}.log`); // stderr
    this.stdoutPath = this.logPath.replace(/\.log$/, '.stdout.log');
  }

  static async start(opts) {
    const s = new VoxelgateServer(opts);
    await s.start();
    return s;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  get dicomweb() {
    return `${this.baseUrl}/dicomweb`;
  }

  get pid() {
    return this.child?.pid;
  }

  get running() {
    return !!this.child && !this.exitInfo;
  }

  // Starts the server (on a fresh free port) and waits until /readyz answers 200.
  async start({ port } = {}) {
    if (this.running) throw new Error('already running');
    this.port = port ?? (await freePort());
    const log = openSync(this.logPath, 'a');
    const out = openSync(this.stdoutPath, 'a');
    const banner = `=== ${new Date().toISOString()} start ${binaryPath} serve --data-dir ${this.dataDir} --listen 127.0.0.1:${this.port} ${this.args.join(' ')}\n`;
    writeSync(out, banner);
    // `wrap`: a command the server runs under (e.g. ['taskset', '-c', '0'] for one core).
    const argv = ['serve', '--data-dir', this.dataDir, '--listen', `127.0.0.1:${this.port}`, ...this.args];
    const [program, ...rest] = this.wrap ? [...this.wrap, binaryPath, ...argv] : [binaryPath, ...argv];
    const child = spawn(program, rest, { stdio: ['ignore', out, log], env: { ...process.env, ...this.env } });
    closeSync(log);
    closeSync(out);
    this.child = child;
    this.exitInfo = null;
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    child.on('error', (e) => {
      this.exitInfo = { code: null, signal: null, error: e };
    });
    await this.waitReady();
    return this;
  }

  async waitReady(timeoutMs = 30_000) {
    let last = '';
    await eventually(() => `voxelgate to be ready: /readyz answering 200 within ${timeoutMs} ms (last: ${last}); log ${this.logPath}:\n${this.logTail()}`, async () => {
      if (this.exitInfo) {
        throw new Error(`voxelgate exited before ready (${JSON.stringify(this.exitInfo)}); log ${this.logPath}:\n${this.logTail()}`);
      }
      try {
        const res = await request(this.baseUrl, { path: '/readyz', timeoutMs: 2000 });
        last = `HTTP ${res.status}`;
        return res.status === 200;
      } catch (e) {
        last = e.message;
        return false;
      }
    }, timeoutMs, 100);
  }

  logText() {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  stdoutText() {
    return existsSync(this.stdoutPath) ? readFileSync(this.stdoutPath, 'utf8') : '';
  }

  logTail(lines = 30) {
    return this.logText().split('\n').slice(-lines).join('\n');
  }

  // SIGTERM, then wait for the exit; returns {code, signal}. SIGKILL after timeoutMs.
  async stop({ timeoutMs = 20_000 } = {}) {
    if (!this.running) return this.exitInfo;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }

  async kill9() {
    if (!this.running) return this.exitInfo;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  async restart(opts) {
    if (this.running) await this.stop();
    return this.start(opts);
  }

  // Stops the server if needed and removes its data dir (when it made one).
  async dispose() {
    if (this.running) await this.kill9();
    if (this.ownsDataDir) removeTempDir(this.dataDir);
    if (this.ownsStorage) this.storage.dispose();
  }

  // /proc/PID/status field in kB (VmHWM, VmRSS, ...).
  procStatusKb(field) {
    const s = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const m = s.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    if (!m) throw new Error(`${field} not in /proc/${this.pid}/status`);
    return Number(m[1]);
  }

  // The leading arguments of `voxelgate admin` or `worker` for this server: its data
  // folder and, for a cluster node, the shared storage; and the environment to run it in.
  cliArgs(command) {
    return [command, '--data-dir', this.dataDir, ...(this.storage?.args ?? [])];
  }

  get cliEnv() {
    return { ...process.env, ...this.env };
  }

  // Runs `voxelgate admin --data-dir DIR ...args`; returns {stdout, stderr}.
  async admin(...args) {
    try {
      const storage = this.storage?.args ?? [];
      return await execFileP(binaryPath, ['admin', '--data-dir', this.dataDir, '--algorithms-root', this.algorithmsRoot, ...storage, ...args], {
        env: { ...process.env, ...this.env },
        timeout: 30_000,
      });
    } catch (e) {
      throw new Error(`voxelgate admin ${args.join(' ')} failed (exit ${e.code}): ${e.stderr || e.message}`);
    }
  }

  // A clinic tenant. Unless `subscription: false`, it gets an active subscription on a plan
  // with every feature and a large quota, so that tests about other things are not about
  // licensing (tests/integration/subscriptions_*.test.mjs are).
  async createTenant(slug, name = `Tenant ${slug}`, { subscription = true } = {}) {
    await this.admin('tenant', 'create', slug, '--name', name);
    if (subscription) await this.subscribeEverything(slug);
    return slug;
  }

  async subscribeEverything(slug) {
    if (!this.everythingPlan) {
      try {
        await this.admin('plan', 'create', 'test-everything', '--runs', '100000', '--features',
          'annotation,export,auto_run,api_tokens', '--price-note', 'integration tests');
      } catch (e) {
        if (!/exists/.test(e.message)) throw e;
      }
      this.everythingPlan = true;
    }
    await this.admin('subscription', 'activate', '--tenant', slug, '--plan', 'test-everything');
  }

  // Returns the bearer token (the one line the command prints).
  async createToken({ tenant, name, scopes = ['dicomweb:read', 'dicomweb:write'], expiresIn } = {}) {
    const args = ['token', 'create', '--tenant', tenant, '--name', name ?? `tok-${Math.random().toString(36).slice(2, 10)}`, '--scope', scopes.join(',')];
    if (expiresIn !== undefined) args.push('--expires-in', String(expiresIn));
    const { stdout } = await this.admin(...args);
    const lines = stdout.split('\n').filter((l) => l.trim() !== '');
    if (lines.length !== 1) throw new Error(`token create printed ${lines.length} lines, expected the token alone: ${JSON.stringify(stdout)}`);
    return lines[0].trim();
  }

  async revokeToken({ tenant, name }) {
    await this.admin('token', 'revoke', '--tenant', tenant, '--name', name);
  }
}
