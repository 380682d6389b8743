// What the kernel knows of a loopback listener's connections (Linux: /proc/net/tcp), for
// tests that wait until a server has received or let go of something.
import { readFileSync } from 'node:fs';

const STATES = { '01': 'ESTABLISHED', '08': 'CLOSE_WAIT', '0A': 'LISTEN' };

// The connections the listener on 127.0.0.1:`port` has accepted and not yet closed:
// [{state, rxQueue}], state ESTABLISHED or CLOSE_WAIT (the peer has gone, the server has
// not closed its end yet); rxQueue: bytes received and not yet read by the server.
export function acceptedConnections(port) {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const out = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const state = STATES[f[3]];
    if (f[1] !== local || !state || state === 'LISTEN') continue;
    out.push({ state, rxQueue: parseInt(f[4].split(':')[1], 16) });
  }
  return out;
}
