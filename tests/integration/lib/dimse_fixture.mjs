// A voxelgate server with its DICOM (DIMSE) listener on a free loopback port, tenants with
// called AE titles, registered calling nodes, and the admin commands of the listener.
import { execFileSync } from 'node:child_process';
import { canConnect } from './dcmtk.mjs';
import { binaryPath, requireBinary } from './env.mjs';
import { freePort, VoxelgateServer } from './server.mjs';

let listenerChecked = false;

// Fails with a clear message when the binary predates the DICOM listener.
export function requireDicomListener() {
  if (listenerChecked) return;
  requireBinary();
  let help = '';
  try {
    help = execFileSync(binaryPath, ['serve', '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    help = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  if (!help.includes('--dicom-listen')) {
    throw new Error(`${binaryPath} has no --dicom-listen option (\`voxelgate serve --help\` does not list it): build a binary with the DICOM listener`);
  }
  listenerChecked = true;
}

// The AE titles the dcmtk tools call with in these tests (their defaults, set explicitly).
export const CALLERS = ['ECHOSCU', 'STORESCU', 'FINDSCU', 'MOVESCU', 'GETSCU', 'NODECLIENT'];

// Port registered for calling-only nodes (they are never connected to).
export const CALLER_ONLY_PORT = 4242;

// Starts a server with --dicom-listen on a free port. tenants: [{slug, aeTitle?,
// acceptAnyCaller?, callers?: [AE] (default CALLERS, registered at 127.0.0.1)}].
// Returns {server, dicomPort, tokens: {slug: read+write token}}; server.dicomPort is set.
export async function startDimseServer(name, tenants = [{ slug: 'alpha' }], { args = [], env = {} } = {}) {
  requireDicomListener();
  const dicomPort = await freePort();
  let httpPort = await freePort();
  while (httpPort === dicomPort) httpPort = await freePort();
  const server = new VoxelgateServer({ name, args: ['--dicom-listen', `127.0.0.1:${dicomPort}`, ...args], env });
  server.dicomPort = dicomPort;
  const tokens = {};
  try {
    await server.start({ port: httpPort });
    // The contract: the DICOM port is open before /readyz answers 200.
    server.dicomOpenAtReady = await canConnect(dicomPort);
    for (const t of tenants) {
      const create = ['tenant', 'create', t.slug, '--name', `Tenant ${t.slug}`];
      if (t.aeTitle) create.push('--ae-title', t.aeTitle);
      await server.admin(...create);
      tokens[t.slug] = await server.createToken({ tenant: t.slug, name: `${t.slug}-rw` });
      if (t.acceptAnyCaller) await setAcceptAnyCaller(server, t.slug, true);
      for (const ae of t.callers ?? CALLERS) await addNode(server, { tenant: t.slug, ae, port: CALLER_ONLY_PORT });
    }
  } catch (e) {
    await server.dispose();
    throw e;
  }
  return { server, dicomPort, tokens };
}

export async function addNode(server, { tenant, ae, host = '127.0.0.1', port }) {
  return server.admin('dicom-node', 'add', '--tenant', tenant, '--ae', ae, '--host', host, '--port', String(port));
}

export async function removeNode(server, { tenant, ae }) {
  return server.admin('dicom-node', 'remove', '--tenant', tenant, '--ae', ae);
}

// `dicom-node list`: [{ae, host, port, line}] from its AE<TAB>host<TAB>port lines.
export async function listNodes(server, tenant) {
  const { stdout } = await server.admin('dicom-node', 'list', '--tenant', tenant);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [ae, host, port, ...rest] = line.split('\t');
      return { ae, host, port, rest, line };
    });
}

export async function setAcceptAnyCaller(server, tenant, on) {
  return server.admin('tenant', 'set', tenant, '--accept-any-caller', on ? 'on' : 'off');
}

// The server's stdout without the banner lines the harness itself writes there.
export function serverStdoutWithoutBanners(server) {
  return server
    .stdoutText()
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('=== '))
    .join('\n');
}
