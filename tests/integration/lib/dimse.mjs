// A small DICOM upper-layer (PS3.8) + DIMSE (PS3.7) client for tests, for what dcmtk's
// tools cannot do: send a truncated or garbage data set as a C-STORE, stop in the middle of
// an instance, propose exactly the presentation contexts a test wants (any transfer
// syntax, SCP role for C-GET), see the A-ASSOCIATE-AC (max PDU) and time round trips.
//
//   const a = await DimseAssociation.open({ port, calledAe: 'ALPHA', callingAe: 'NODECLIENT',
//     contexts: [{ abstractSyntax: SOP.verification, transferSyntaxes: [TS.implicitLE] }] });
//   const { status } = await a.echo();
//   await a.release();
//
// Commands are Implicit VR Little Endian (always); data sets are sent as given (bytes in
// the context's transfer syntax) and received as bytes.
import net from 'node:net';

export const SOP = {
  verification: '1.2.840.10008.1.1',
  ctImage: '1.2.840.10008.5.1.4.1.1.2',
  mrImage: '1.2.840.10008.5.1.4.1.1.4',
  patientRootFind: '1.2.840.10008.5.1.4.1.2.1.1',
  patientRootMove: '1.2.840.10008.5.1.4.1.2.1.2',
  patientRootGet: '1.2.840.10008.5.1.4.1.2.1.3',
  studyRootFind: '1.2.840.10008.5.1.4.1.2.2.1',
  studyRootMove: '1.2.840.10008.5.1.4.1.2.2.2',
  studyRootGet: '1.2.840.10008.5.1.4.1.2.2.3',
};

export const DIMSE_TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  explicitBE: '1.2.840.10008.1.2.2',
};

const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';
const IMPLEMENTATION_CLASS_UID = '2.25.284374893047512003817311120473512733246';
const IMPLEMENTATION_VERSION = 'VXG_IT_DIMSE';

export const CMD = {
  C_STORE_RQ: 0x0001,
  C_STORE_RSP: 0x8001,
  C_GET_RQ: 0x0010,
  C_GET_RSP: 0x8010,
  C_FIND_RQ: 0x0020,
  C_FIND_RSP: 0x8020,
  C_MOVE_RQ: 0x0021,
  C_MOVE_RSP: 0x8021,
  C_ECHO_RQ: 0x0030,
  C_ECHO_RSP: 0x8030,
};

const NO_DATASET = 0x0101;
const PENDING = new Set([0xff00, 0xff01]);

// Reasons of A-ASSOCIATE-RJ (PS3.8 9.3.4), by source.
const RJ_REASONS = {
  1: { 1: 'no-reason-given', 2: 'application-context-name-not-supported', 3: 'calling-AE-title-not-recognized', 7: 'called-AE-title-not-recognized' },
  2: { 1: 'no-reason-given', 2: 'protocol-version-not-supported' },
  3: { 1: 'temporary-congestion', 2: 'local-limit-exceeded' },
};

export class AssociationRejected extends Error {
  constructor({ result, source, reason }) {
    const text = RJ_REASONS[source]?.[reason] ?? `reason ${reason}`;
    super(`A-ASSOCIATE-RJ result=${result} (${result === 1 ? 'permanent' : 'transient'}) source=${source} reason=${reason} (${text})`);
    this.result = result;
    this.source = source;
    this.reason = reason;
    this.reasonText = text;
  }
}

// --- encoding helpers ----------------------------------------------------------------
function aeField(ae) {
  if (ae.length > 16) throw new Error(`AE title longer than 16: ${ae}`);
  return Buffer.from(ae.padEnd(16, ' '), 'latin1');
}

function item(type, body) {
  const h = Buffer.alloc(4);
  h.writeUInt8(type, 0);
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

function pdu(type, body) {
  const h = Buffer.alloc(6);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(body.length, 2);
  return Buffer.concat([h, body]);
}

function u32be(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

// Encodes one Implicit VR Little Endian element; strings are padded to even length (UIDs
// with NUL, others with a space). `value` is a string, a Buffer, or {us}/{ul} numbers.
function implicitElement(group, element, value, { uid = false } = {}) {
  let v;
  if (Buffer.isBuffer(value)) v = value;
  else if (typeof value === 'object' && value !== null && 'us' in value) {
    v = Buffer.alloc(2);
    v.writeUInt16LE(value.us, 0);
  } else if (typeof value === 'object' && value !== null && 'ul' in value) {
    v = Buffer.alloc(4);
    v.writeUInt32LE(value.ul, 0);
  } else {
    const s = String(value ?? '');
    v = Buffer.from(s.length % 2 ? s + (uid ? '\0' : ' ') : s, 'latin1');
  }
  const h = Buffer.alloc(8);
  h.writeUInt16LE(group, 0);
  h.writeUInt16LE(element, 2);
  h.writeUInt32LE(v.length, 4);
  return Buffer.concat([h, v]);
}

const CMD_UID_TAGS = new Set([0x0002, 0x0003, 0x1000, 0x1001]);
const CMD_US_TAGS = new Set([0x0100, 0x0110, 0x0120, 0x0700, 0x0800, 0x0900, 0x1020, 0x1021, 0x1022, 0x1023, 0x1031]);

// A command set (group 0000) from {element: value}; (0000,0000) is computed.
export function encodeCommand(fields) {
  const els = Object.entries(fields)
    .map(([k, v]) => [Number(k), v])
    .sort((a, b) => a[0] - b[0])
    .map(([el, v]) => implicitElement(0x0000, el, CMD_US_TAGS.has(el) ? { us: v } : v, { uid: CMD_UID_TAGS.has(el) }));
  const body = Buffer.concat(els);
  return Buffer.concat([implicitElement(0x0000, 0x0000, { ul: body.length }), body]);
}

// Parses a command set: {commandField, messageId, status, errorComment, ...raw: {el: value}}.
export function decodeCommand(buf) {
  const raw = {};
  let off = 0;
  while (off + 8 <= buf.length) {
    const group = buf.readUInt16LE(off);
    const el = buf.readUInt16LE(off + 2);
    const len = buf.readUInt32LE(off + 4);
    const v = buf.subarray(off + 8, off + 8 + len);
    off += 8 + len;
    if (group !== 0) continue;
    if (el === 0x0000) raw[el] = v.readUInt32LE(0);
    else if (CMD_US_TAGS.has(el) && len === 2) raw[el] = v.readUInt16LE(0);
    else raw[el] = v.toString('latin1').replace(/[\0 ]+$/, '');
  }
  return {
    raw,
    commandField: raw[0x0100],
    messageId: raw[0x0110],
    messageIdBeingRespondedTo: raw[0x0120],
    dataSetType: raw[0x0800],
    hasDataSet: raw[0x0800] !== undefined && raw[0x0800] !== NO_DATASET,
    status: raw[0x0900],
    errorComment: raw[0x0902],
    affectedSopClass: raw[0x0002],
    affectedSopInstance: raw[0x1000],
    remaining: raw[0x1020],
    completed: raw[0x1021],
    failed: raw[0x1022],
    warning: raw[0x1023],
  };
}

// A small identifier (query) data set in Implicit VR Little Endian: keys is a list of
// [tag 'GGGGEEEE', value] (sorted here). UIs are NUL-padded.
export function encodeIdentifier(keys) {
  const UI = new Set(['0020000D', '0020000E', '00080018', '00080016']);
  return Buffer.concat(
    [...keys]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([tag, value]) => implicitElement(parseInt(tag.slice(0, 4), 16), parseInt(tag.slice(4), 16), value, { uid: UI.has(tag.toUpperCase()) })),
  );
}

export function statusHex(s) {
  return s === undefined ? 'none' : `0x${s.toString(16).toUpperCase().padStart(4, '0')}`;
}

// --- the association ---------------------------------------------------------------------
export class DimseAssociation {
  // contexts: [{abstractSyntax, transferSyntaxes: [uid], scpRole?: true}] (ids 1, 3, 5, ...).
  // localAddress: the source address to connect from (e.g. 127.0.0.2, for per-address limits).
  static async open({ host = '127.0.0.1', port, calledAe, callingAe = 'NODECLIENT', contexts, maxPdu = 131072, timeoutMs = 30_000, noDelay = true, localAddress }) {
    const a = new DimseAssociation({ timeoutMs });
    await a.connect({ host, port, noDelay, localAddress });
    await a.associate({ calledAe, callingAe, contexts, maxPdu });
    return a;
  }

  constructor({ timeoutMs = 30_000 } = {}) {
    this.timeoutMs = timeoutMs;
    this.buf = Buffer.alloc(0);
    this.pdus = [];
    this.waiters = [];
    this.closed = false;
    this.closeError = null;
    this.nextMessageId = 1;
    this.pending = { command: [], dataset: [], contextId: null };
    this.receivedPduSizes = []; // length fields of the P-DATA-TF PDUs received
    this.pdvs = []; // received PDVs not yet consumed: [{id, mch, data}]
  }

  connect({ host, port, noDelay, localAddress }) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) }, () => {
        sock.off('error', reject);
        resolve();
      });
      sock.once('error', reject);
      if (noDelay) sock.setNoDelay(true);
      this.sock = sock;
      sock.on('data', (d) => this.onData(d));
      sock.on('error', (e) => {
        this.closeError = e;
      });
      sock.on('close', () => {
        this.closed = true;
        this.wake();
      });
    });
  }

  onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 6) {
      const len = this.buf.readUInt32BE(2);
      if (this.buf.length < 6 + len) break;
      if (this.buf[0] === 0x04) this.receivedPduSizes.push(len); // P-DATA-TF variable field
      this.pdus.push({ type: this.buf[0], body: this.buf.subarray(6, 6 + len) });
      this.buf = this.buf.subarray(6 + len);
    }
    this.wake();
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  // The next PDU ({type, body}); throws when the connection closes first or on timeout.
  async nextPdu(timeoutMs = this.timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!this.pdus.length) {
      if (this.closed) throw Object.assign(new Error(`connection closed by the peer${this.closeError ? ` (${this.closeError.message})` : ''}`), { code: 'CLOSED' });
      const left = deadline - Date.now();
      if (left <= 0) throw Object.assign(new Error(`no PDU within ${timeoutMs} ms`), { code: 'TIMEOUT' });
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.pdus.shift();
  }

  write(buf) {
    return new Promise((resolve, reject) => {
      if (this.sock.destroyed) return reject(new Error('socket destroyed'));
      this.sock.write(buf, (e) => (e ? reject(e) : resolve()));
    });
  }

  async associate({ calledAe, callingAe, contexts, maxPdu }) {
    this.calledAe = calledAe;
    this.callingAe = callingAe;
    this.proposed = new Map();
    const items = [item(0x10, Buffer.from(APPLICATION_CONTEXT, 'latin1'))];
    const roles = [];
    contexts.forEach((c, k) => {
      const id = 2 * k + 1;
      this.proposed.set(id, c);
      const body = [Buffer.from([id, 0, 0, 0]), item(0x30, Buffer.from(c.abstractSyntax, 'latin1'))];
      for (const ts of c.transferSyntaxes) body.push(item(0x40, Buffer.from(ts, 'latin1')));
      items.push(item(0x20, Buffer.concat(body)));
      if (c.scpRole && !roles.includes(c.abstractSyntax)) roles.push(c.abstractSyntax);
    });
    const user = [item(0x51, u32be(maxPdu)), item(0x52, Buffer.from(IMPLEMENTATION_CLASS_UID, 'latin1')), item(0x55, Buffer.from(IMPLEMENTATION_VERSION, 'latin1'))];
    for (const uid of roles) {
      const u = Buffer.from(uid, 'latin1');
      const l = Buffer.alloc(2);
      l.writeUInt16BE(u.length, 0);
      user.push(item(0x54, Buffer.concat([l, u, Buffer.from([0, 1])]))); // SCU role 0, SCP role 1
    }
    items.push(item(0x50, Buffer.concat(user)));
    const head = Buffer.alloc(68);
    head.writeUInt16BE(1, 0);
    aeField(calledAe).copy(head, 4);
    aeField(callingAe).copy(head, 20);
    await this.write(pdu(0x01, Buffer.concat([head, ...items])));
    const p = await this.nextPdu();
    if (p.type === 0x03) {
      this.destroy();
      throw new AssociationRejected({ result: p.body[1], source: p.body[2], reason: p.body[3] });
    }
    if (p.type === 0x07) {
      this.destroy();
      throw Object.assign(new Error(`A-ABORT instead of A-ASSOCIATE-AC (source ${p.body[2]}, reason ${p.body[3]})`), { code: 'ABORT' });
    }
    if (p.type !== 0x02) throw new Error(`expected A-ASSOCIATE-AC, got PDU type ${p.type}`);
    this.parseAc(p.body);
  }

  parseAc(body) {
    this.accepted = new Map(); // id -> {abstractSyntax, transferSyntax}
    this.results = new Map(); // id -> result code
    this.peerMaxPdu = 0;
    let off = 68;
    while (off + 4 <= body.length) {
      const type = body[off];
      const len = body.readUInt16BE(off + 2);
      const v = body.subarray(off + 4, off + 4 + len);
      off += 4 + len;
      if (type === 0x21) {
        const id = v[0];
        const result = v[2];
        this.results.set(id, result);
        let ts;
        let o = 4;
        while (o + 4 <= v.length) {
          const t = v[o];
          const l = v.readUInt16BE(o + 2);
          if (t === 0x40) ts = v.toString('latin1', o + 4, o + 4 + l).replace(/\0+$/, '');
          o += 4 + l;
        }
        if (result === 0) this.accepted.set(id, { abstractSyntax: this.proposed.get(id)?.abstractSyntax, transferSyntax: ts });
      } else if (type === 0x50) {
        let o = 0;
        while (o + 4 <= v.length) {
          const t = v[o];
          const l = v.readUInt16BE(o + 2);
          if (t === 0x51) this.peerMaxPdu = v.readUInt32BE(o + 4);
          o += 4 + l;
        }
      }
    }
  }

  // The accepted context id for an abstract syntax (and transfer syntax, when given).
  contextFor(abstractSyntax, transferSyntax) {
    for (const [id, c] of this.accepted) {
      if (c.abstractSyntax === abstractSyntax && (!transferSyntax || c.transferSyntax === transferSyntax)) return id;
    }
    throw new Error(`no accepted presentation context for ${abstractSyntax}${transferSyntax ? ` / ${transferSyntax}` : ''} (accepted: ${JSON.stringify([...this.accepted])})`);
  }

  // Largest PDV value we may put in one P-DATA-TF (peer's max PDU length minus the 6
  // bytes of PDV item header); `maxPdu` caps it further.
  pdvLimit(maxPdu) {
    const peer = this.peerMaxPdu || 16384;
    return Math.min(peer, maxPdu ?? peer) - 6;
  }

  // Sends one message part (command or data set) as P-DATA-TF PDUs. `stopAfterBytes`
  // sends only that many bytes (no last-fragment flag) and returns: a test then aborts.
  async sendFragments(contextId, bytes, { command, maxPdu, stopAfterBytes } = {}) {
    const limit = this.pdvLimit(maxPdu);
    let off = 0;
    const end = stopAfterBytes === undefined ? bytes.length : Math.min(stopAfterBytes, bytes.length);
    do {
      const n = Math.min(limit, bytes.length - off);
      const last = off + n >= bytes.length;
      if (stopAfterBytes !== undefined && off + n > end) {
        const part = end - off;
        if (part > 0) await this.write(this.pdvPdu(contextId, bytes.subarray(off, end), command, false));
        return;
      }
      await this.write(this.pdvPdu(contextId, bytes.subarray(off, off + n), command, last));
      off += n;
    } while (off < bytes.length);
  }

  pdvPdu(contextId, data, command, last) {
    const h = Buffer.alloc(6);
    h.writeUInt32BE(data.length + 2, 0);
    h[4] = contextId;
    h[5] = (command ? 1 : 0) | (last ? 2 : 0);
    return pdu(0x04, Buffer.concat([h, data]));
  }

  // Receives the next whole DIMSE message: {contextId, command, dataset?: Buffer}. Throws
  // on A-ABORT, A-RELEASE-RQ or a closed connection.
  async receiveMessage(timeoutMs = this.timeoutMs) {
    for (;;) {
      // PDVs left over from a PDU that carried the end of the previous message first.
      while (this.pdvs.length) {
        const { id, mch, data } = this.pdvs.shift();
        const st = this.pending;
        st.contextId = id;
        if (mch & 1) {
          if (st.commandDone) {
            throw Object.assign(new Error(`protocol error: a new command (context ${id}) arrived while the data set of the previous message (command 0x${st.commandDone.commandField?.toString(16)}, ${st.commandDone.affectedSopInstance ?? ''}) was awaited`), { code: 'PROTOCOL' });
          }
          st.command.push(data);
          if (mch & 2) {
            st.commandDone = decodeCommand(Buffer.concat(st.command));
            st.command = [];
            if (!st.commandDone.hasDataSet) return this.finishMessage();
          }
        } else {
          st.dataset.push(data);
          if (mch & 2) return this.finishMessage();
        }
      }
      const p = await this.nextPdu(timeoutMs);
      if (p.type === 0x07) throw Object.assign(new Error(`peer sent A-ABORT (source ${p.body[2]}, reason ${p.body[3]})`), { code: 'ABORT' });
      if (p.type !== 0x04) throw new Error(`expected P-DATA-TF, got PDU type ${p.type}`);
      let off = 0;
      while (off + 6 <= p.body.length) {
        const len = p.body.readUInt32BE(off);
        this.pdvs.push({ id: p.body[off + 4], mch: p.body[off + 5], data: p.body.subarray(off + 6, off + 4 + len) });
        off += 4 + len;
      }
    }
  }

  finishMessage() {
    const st = this.pending;
    const msg = { contextId: st.contextId, command: st.commandDone, dataset: st.dataset.length ? Buffer.concat(st.dataset) : undefined };
    this.pending = { command: [], dataset: [], contextId: null };
    return msg;
  }

  // Sends a command (and data set) and returns the message id used.
  async sendMessage(contextId, fields, dataset, { maxPdu, stopAfterBytes } = {}) {
    const messageId = fields[0x0110] ?? this.nextMessageId++;
    const cmd = encodeCommand({ ...fields, 0x0110: messageId, 0x0800: dataset ? 0x0000 : NO_DATASET });
    await this.sendFragments(contextId, cmd, { command: true, maxPdu });
    if (dataset) await this.sendFragments(contextId, dataset, { command: false, maxPdu, stopAfterBytes });
    return messageId;
  }

  async echo() {
    const id = this.contextFor(SOP.verification);
    await this.sendMessage(id, { 0x0002: SOP.verification, 0x0100: CMD.C_ECHO_RQ });
    const rsp = await this.receiveMessage();
    if (rsp.command.commandField !== CMD.C_ECHO_RSP) throw new Error(`expected C-ECHO-RSP, got 0x${rsp.command.commandField?.toString(16)}`);
    return rsp.command;
  }

  // C-STORE of `dataset` (bytes in the context's transfer syntax). Returns the response
  // command {status, errorComment, ...}. With `stopAfterBytes` only that much of the data
  // set is sent and nothing is awaited (returns undefined).
  async store({ sopClass, sopInstance, dataset, transferSyntax, maxPdu, stopAfterBytes }) {
    const id = this.contextFor(sopClass, transferSyntax);
    await this.sendMessage(id, { 0x0002: sopClass, 0x0100: CMD.C_STORE_RQ, 0x0700: 0, 0x1000: sopInstance }, dataset, { maxPdu, stopAfterBytes });
    if (stopAfterBytes !== undefined) return undefined;
    const rsp = await this.receiveMessage();
    if (rsp.command.commandField !== CMD.C_STORE_RSP) throw new Error(`expected C-STORE-RSP, got 0x${rsp.command.commandField?.toString(16)}`);
    return rsp.command;
  }

  // C-FIND: returns {matches: [Buffer data sets], final: command}.
  async find({ model = SOP.studyRootFind, identifier }) {
    const id = this.contextFor(model);
    await this.sendMessage(id, { 0x0002: model, 0x0100: CMD.C_FIND_RQ, 0x0700: 0 }, identifier);
    const matches = [];
    for (;;) {
      const rsp = await this.receiveMessage();
      if (rsp.command.commandField !== CMD.C_FIND_RSP) throw new Error(`expected C-FIND-RSP, got 0x${rsp.command.commandField?.toString(16)}`);
      if (PENDING.has(rsp.command.status)) matches.push(rsp.dataset);
      else return { matches, final: rsp.command };
    }
  }

  // C-GET: answers every C-STORE sub-operation with `storeStatus(sub)` (default success)
  // and collects them. Returns {stored: [{sopClass, sopInstance, transferSyntax, dataset}],
  // final: command, pendings: [command]}.
  async get({ model = SOP.studyRootGet, identifier, storeStatus = () => 0x0000 }) {
    const id = this.contextFor(model);
    const messageId = await this.sendMessage(id, { 0x0002: model, 0x0100: CMD.C_GET_RQ, 0x0700: 0 }, identifier);
    const stored = [];
    const pendings = [];
    for (;;) {
      const msg = await this.receiveMessage();
      const c = msg.command;
      if (c.commandField === CMD.C_STORE_RQ) {
        const sub = { sopClass: c.affectedSopClass, sopInstance: c.affectedSopInstance, contextId: msg.contextId, transferSyntax: this.accepted.get(msg.contextId)?.transferSyntax, dataset: msg.dataset };
        stored.push(sub);
        await this.sendMessage(msg.contextId, { 0x0002: c.affectedSopClass, 0x0100: CMD.C_STORE_RSP, 0x0120: c.messageId, 0x0900: storeStatus(sub), 0x1000: c.affectedSopInstance });
        continue;
      }
      if (c.commandField !== CMD.C_GET_RSP) throw new Error(`expected C-GET-RSP or C-STORE-RQ, got 0x${c.commandField?.toString(16)}`);
      if (c.messageIdBeingRespondedTo !== messageId) throw new Error(`C-GET-RSP answers message ${c.messageIdBeingRespondedTo}, sent ${messageId}`);
      if (PENDING.has(c.status)) pendings.push(c);
      else return { stored, final: c, pendings };
    }
  }

  // A-RELEASE-RQ and wait for A-RELEASE-RP; then close.
  async release() {
    await this.write(pdu(0x05, Buffer.alloc(4)));
    const p = await this.nextPdu();
    this.destroy();
    if (p.type !== 0x06) throw new Error(`expected A-RELEASE-RP, got PDU type ${p.type}`);
  }

  // Sends A-ABORT (source: service user) and closes.
  async abort() {
    try {
      await this.write(pdu(0x07, Buffer.alloc(4)));
    } catch {}
    this.destroy();
  }

  destroy() {
    this.sock?.destroy();
  }
}

// Opens an association, runs fn(association), then releases it; when fn throws, the
// association is aborted instead (so a failed release cannot hide fn's error).
export async function withAssociation(opts, fn) {
  const a = await DimseAssociation.open(opts);
  let result;
  try {
    result = await fn(a);
  } catch (e) {
    await a.abort();
    throw e;
  }
  await a.release();
  return result;
}

// Tries to associate; returns {accepted: DimseAssociation} or {rejected: AssociationRejected}
// or {error} (closed/aborted without an RJ).
export async function tryAssociate(opts) {
  try {
    return { accepted: await DimseAssociation.open(opts) };
  } catch (e) {
    if (e instanceof AssociationRejected) return { rejected: e };
    return { error: e };
  }
}
