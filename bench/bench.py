#!/usr/bin/python3
"""voxelgate vs Orthanc DICOMweb + DIMSE benchmark driver (stdlib, curl and the dcmtk tools; pydicom/numpy
only to generate data).

Called by bench/run (which owns the temp dir, the overall time limit and the last-resort cleanup).
usage: /usr/bin/python3 bench/bench.py --root REPO --work TMPDIR [--runs N] [--only voxelgate|orthanc]

Per server (one at a time, everything on 127.0.0.1):
  * ingest: for each run a fresh process on an empty data dir; STOW-RS of pre-built multipart bodies
    (50 instances per request) over one keep-alive connection per client; 1 client x 200 instances,
    then 2 parallel clients x 200 (one series each). Median of N runs (default 3).
  * reads, on the process left by the last 2-client run (400 instances, warm page cache):
    QIDO study search (PatientName) x100 and QIDO instances of a 200-slice series x20 on one
    keep-alive curl connection; WADO-RS whole series x5; series metadata x20.
  * C-MOVE, on that same process: movescu of the whole 200-slice series to a storescp destination
    (registered with `dicom-node add` / DicomModalities), N runs, file count checked after each.
  * DIMSE ingest: for each run a fresh process on an empty data dir; stock storescu (no TCP_NODELAY in
    its environment) of 1 series over 1 association, then 2 series over 2 parallel associations; the
    same two again with TCP_NODELAY=1 on storescu, for reference. QIDO count check after each run.
  * peak RSS: VmHWM of every server process (max), and CPU time of the server during ingest.
Results: table on stdout, JSON in ROOT/build/bench-results.json.
"""
import argparse
import datetime
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

BOUNDARY = "VoxelgateBenchBoundary8c2e41d07"
STOW_CT = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
ACCEPT_MP = 'multipart/related; type="application/dicom"'
ACCEPT_JSON = "application/dicom+json"
HTTP_TIMEOUT = 120          # seconds, any single request
READY_TIMEOUT = 60          # seconds, server start
SHARED = "../shared/peers/orthanc"   # relative to the repo root
ORTHANC_BIN = "/usr/sbin/Orthanc"
PER_REQ = 50
SLICES = 200
SCU_AET = "BENCHSCU"        # calling AE of storescu / movescu / echoscu
SCP_AET = "BENCHSCP"        # the storescp C-MOVE destination (stock: no TCP_NODELAY)
SCP_ND_AET = "BENCHSCPND"   # the same with TCP_NODELAY=1 in its environment (reference figure)
CALLER_ONLY_PORT = 104      # port registered for the calling-only node BENCHSCU (never connected to)
DIMSE_TIMEOUT = 180         # seconds, any single storescu / movescu run

# Orthanc "tuned" configuration of the peer study (used only if the shared config file is absent).
ORTHANC_TUNED_FALLBACK = {
    "Name": "OrthancBench", "StorageCompression": False, "MaximumStorageSize": 0,
    "MaximumPatientCount": 0, "MaximumStorageCacheSize": 128, "ConcurrentJobs": 2,
    "HttpServerEnabled": True, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
    "RegisteredUsers": {}, "HttpCompressionEnabled": True, "HttpThreadsCount": 50, "KeepAlive": True,
    "TcpNoDelay": True, "WebDavEnabled": False, "DicomServerEnabled": True, "DicomAet": "ORTHANC",
    "DicomCheckCalledAet": False, "DicomThreadsCount": 4, "DicomAlwaysAllowEcho": True,
    "DicomAlwaysAllowStore": True, "MaximumPduLength": 16384, "DicomModalities": {},
    "StoreMD5ForAttachments": True, "SyncStorageArea": False, "OverwriteInstances": False,
    "StorageAccessOnFind": "Never", "MallocArenaMax": 5, "MetricsEnabled": True, "SaveJobs": True,
    "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "WadoRoot": "/wado", "Ssl": False},
}

A = None        # parsed args
PIDFILE = None  # "pid exe" lines, read by bench/run's EXIT trap
LIVE = set()    # client processes (storescu, movescu, echoscu) still running; killed on exit


def log(*a):
    print(*a, flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------ small utilities
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    except OSError:
        pass
    return out


def cpu_s(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)] if s else None


def rnd(x, n=1):
    return None if x is None else round(x, n)


def busy_jiffies():
    """Busy CPU time of the whole machine, in seconds (all cores)."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def own_cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def du_bytes(path):
    total = 0
    for d, _, fs in os.walk(path):
        for f in fs:
            try:
                total += os.lstat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                pass
    return total


def fresh_data_dir(work, name, gen):
    """A new, empty data directory for one server start. The previous ones are left in place until
    bench/run removes the work directory at the end: on ext4 without a journal (as on this kind of VM),
    every file created within a minute or so of a large delete scans past the freed inodes
    (ext4's recently_deleted check), so deleting the last run's 400 files right before the next run
    measured the harness's own cleanup (one profile of DIMSE ingest showed a third of the server's CPU
    time in inode allocation). Same for both servers."""
    ddir = os.path.join(work, f"{name}-{gen}")
    os.makedirs(ddir)
    return ddir


def register_pid(pid, exe):
    with open(PIDFILE, "a") as fh:
        fh.write(f"{pid} {os.path.realpath(exe)}\n")


def tool_env(nodelay):
    """Environment of a dcmtk client: TCP_NODELAY=1 only when asked (a stock modality does not set it)."""
    env = {k: v for k, v in os.environ.items() if k != "TCP_NODELAY"}
    if nodelay:
        env["TCP_NODELAY"] = "1"
    return env


def run_tools(cmds, env, timeout, tag):
    """Starts the commands at once, waits for all; returns (wall seconds, [(rc, output)]).
    Bounded: anything still running after `timeout` s is killed (rc None)."""
    procs, outs = [], []
    try:
        t0 = time.perf_counter()
        for i, cmd in enumerate(cmds):
            out = open(os.path.join(A.work, f"{tag}-{i}.out"), "w+b")
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)
            LIVE.add(p)
            register_pid(p.pid, shutil.which(cmd[0]) or cmd[0])
            procs.append(p)
            outs.append(out)
        # Blocking waits (waitpid), with a watchdog for the timeout: Popen.wait(timeout) polls with
        # sleeps of up to 50 ms, which on a 0.5 s run is a 10% error in the measured time.
        timed_out = set()

        def watchdog():
            for p in procs:
                if p.poll() is None:
                    timed_out.add(p)
                    p.kill()
        timer = threading.Timer(timeout, watchdog)
        timer.start()
        try:
            for p in procs:
                p.wait()
        finally:
            timer.cancel()
        dt = time.perf_counter() - t0
        for p in timed_out:
            p.returncode = None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
                p.returncode = None
            LIVE.discard(p)
    res = []
    for p, out in zip(procs, outs):
        out.seek(0)
        res.append((p.returncode, out.read().decode(errors="replace")))
        out.close()
    return dt, res


def out_tail(text, n=8):
    return " | ".join(l.strip() for l in text.strip().splitlines()[-n:])


def kill_live():
    for p in list(LIVE):
        if p.poll() is None:
            p.kill()
        LIVE.discard(p)


class StoreScp:
    """dcmtk storescp, a C-MOVE destination, writing into a temp dir; TCP_NODELAY=1 only if nodelay."""

    def __init__(self, work, tag, aet, nodelay):
        self.aet, self.nodelay = aet, nodelay
        tag = f"{tag}-{aet}"
        self.dir = os.path.join(work, f"storescp-{tag}")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        self.logf = os.path.join(work, f"storescp-{tag}.log")
        self.proc = subprocess.Popen(["storescp", "-aet", aet, "-od", self.dir, str(self.port)],
                                     stdin=subprocess.DEVNULL, stdout=open(self.logf, "wb"),
                                     stderr=subprocess.STDOUT, env=tool_env(nodelay), start_new_session=True)
        register_pid(self.proc.pid, shutil.which("storescp") or "storescp")
        t0 = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"storescp exited rc={self.proc.returncode}: {tail(self.logf)}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.perf_counter() - t0 > 10:
                    self.stop()
                    raise BenchError(f"storescp not listening on {self.port} after 10 s")
                time.sleep(0.05)

    def clear(self):
        # Moved aside, not deleted: deleting files just before a timed run slows the next run's file
        # creation (see fresh_data_dir). bench/run removes them with the work dir.
        self.cleared = getattr(self, "cleared", 0) + 1
        kept = f"{self.dir}-received-{self.cleared}"
        os.makedirs(kept)
        for f in os.listdir(self.dir):
            os.rename(os.path.join(self.dir, f), os.path.join(kept, f))

    def files(self):
        return [f for f in os.listdir(self.dir) if not f.startswith(".")]

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class Conn:
    """One persistent HTTP/1.1 connection, TCP_NODELAY, body sent from memory without copying."""

    def __init__(self, port):
        self.port, self.c, self.connects = port, None, 0

    def _open(self):
        self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        self.c.connect()
        self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1

    def request(self, method, path, body=None, headers=None):
        if self.c is None or self.c.sock is None:
            self._open()
        c = self.c
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders()
        send_err = None
        if body is not None:
            try:
                c.sock.sendall(memoryview(body))
            except OSError as e:  # server answered early / closed: try to read its answer anyway
                send_err = e
        try:
            r = c.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise BenchError(f"{method} {path}: no response ({e}; send error: {send_err})")
        if r.will_close:
            self.close()
        return r.status, r.getheader("Content-Type", ""), data

    def close(self):
        if self.c is not None:
            self.c.close()
        self.c = None


# ------------------------------------------------------------------ dataset
def ensure_dataset(root):
    ddir = os.path.join(root, "build", "bench-data")
    stamp = os.path.join(ddir, ".complete")
    man_path = os.path.join(ddir, "manifest.json")
    if os.path.exists(stamp) and os.path.exists(man_path):
        man = json.load(open(man_path))
        files = [f for s in man["series"][:2] for f in s["files"]]
        ok = (len(man["series"]) >= 2 and all(len(s["files"]) == SLICES for s in man["series"][:2]) and
              all(os.path.exists(f["path"]) and os.path.getsize(f["path"]) == f["size"] for f in files))
        if ok:
            log(f"dataset: reusing {ddir} ({json.load(open(stamp)).get('generator')})")
            return man
        log("dataset: cached copy incomplete, regenerating")
    shutil.rmtree(ddir, ignore_errors=True)
    os.makedirs(ddir)
    shared_gen = os.path.normpath(os.path.join(root, SHARED, "gen_dataset.py"))
    gen = shared_gen if os.path.exists(shared_gen) else os.path.join(root, "bench", "gen_ct.py")
    log(f"dataset: generating 1 patient x 2 series x {SLICES} slices with {gen} ...")
    t0 = time.time()
    subprocess.run(["/usr/bin/python3", gen, ddir, "1", "2", str(SLICES)], check=True, timeout=600,
                   cwd=ddir)
    json.dump({"generator": gen, "args": [1, 2, SLICES], "seconds": round(time.time() - t0, 1)},
              open(stamp, "w"))
    return json.load(open(man_path))


def build_bodies(series, per_req=PER_REQ):
    files = [open(f["path"], "rb").read() for f in series["files"]]
    bodies = []
    for k in range(0, len(files), per_req):
        parts = []
        for data in files[k:k + per_req]:
            parts.append(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
            parts.append(data)
            parts.append(b"\r\n")
        parts.append(f"--{BOUNDARY}--\r\n".encode())
        bodies.append(b"".join(parts))
    return bodies


# ------------------------------------------------------------------ servers
class Server:
    name = "?"
    dw = "/dicomweb"

    def __init__(self, work):
        self.work, self.proc, self.port, self.hwm_mb, self.notes = work, None, None, [], []
        self.headers = {}
        self.gen = 0
        self.dicom_port, self.called_ae = None, None
        self.scp_nodes = []    # [(AE, port)]: storescp C-MOVE destinations, registered at every start

    @property
    def pid(self):
        return self.proc.pid

    def _register(self, exe):
        with open(PIDFILE, "a") as fh:
            fh.write(f"{self.proc.pid} {os.path.realpath(exe)}\n")

    def _wait_ready(self, path, logf):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < READY_TIMEOUT:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with rc={self.proc.returncode} during start-up; "
                                 f"log tail:\n{tail(logf)}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", path, headers=self.headers)
                st = c.getresponse().status
                c.close()
                if st == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError(f"{self.name} not ready after {READY_TIMEOUT}s; log tail:\n{tail(logf)}")

    def rss(self):
        return proc_status(self.pid)

    def wait_dicom(self):
        """C-ECHO (echoscu, bounded retries) until the DICOM listener answers; returns seconds."""
        t0 = time.perf_counter()
        last = ""
        while time.perf_counter() - t0 < 20:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with rc={self.proc.returncode}")
            r = subprocess.run(["echoscu", "-aet", SCU_AET, "-aec", self.called_ae, "127.0.0.1",
                                str(self.dicom_port)], capture_output=True, text=True, timeout=30,
                               env=tool_env(False))
            if r.returncode == 0:
                return time.perf_counter() - t0
            last = (r.stdout + r.stderr).strip()[-300:]
            time.sleep(0.1)
        raise BenchError(f"{self.name}: C-ECHO to {self.called_ae}@127.0.0.1:{self.dicom_port} failed for 20 s: {last}")

    def stop(self):
        if self.proc is None:
            return
        st = proc_status(self.pid)
        if "VmHWM" in st:
            self.hwm_mb.append(st["VmHWM"])
        if self.proc.poll() is not None:
            note = f"server process died on its own (rc={self.proc.returncode}) before SIGTERM"
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
                rc = self.proc.returncode
                note = None if rc in (0, -signal.SIGTERM) else f"exit status after SIGTERM: {rc}"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                note = "did not exit within 20 s of SIGTERM; killed"
        if note and note not in self.notes:
            self.notes.append(note)
        self.proc = None

    def count_instances(self, study, series):
        c = Conn(self.port)
        st, _, data = c.request("GET", f"{self.dw}/studies/{study}/series/{series}/instances",
                                headers={**self.headers, "Accept": ACCEPT_JSON})
        c.close()
        if st == 204:
            return 0
        if st != 200:
            raise BenchError(f"QIDO instances -> HTTP {st}: {data[:300]!r}")
        return len(json.loads(data))


def tail(path, n=30):
    try:
        return "".join(open(path, errors="replace").readlines()[-n:])
    except OSError:
        return "(no log)"


class Voxelgate(Server):
    name = "voxelgate"
    dw = "/dicomweb"

    def __init__(self, work, binary):
        super().__init__(work)
        self.bin = binary

    def admin(self, ddir, *args):
        cmd = [self.bin, "admin", "--data-dir", ddir, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise BenchError(f"`{' '.join(cmd)}` failed rc={r.returncode}: {r.stdout[-500:]}{r.stderr[-1000:]}")
        return r.stdout

    def start(self):
        self.gen += 1
        ddir = fresh_data_dir(self.work, "voxelgate-data", self.gen)
        self.data_dir = ddir
        self.admin(ddir, "tenant", "create", "bench")   # AE title BENCH (the slug upper-cased)
        self.called_ae = "BENCH"
        # known calling node (accept-any-caller stays off) and the C-MOVE destination
        self.admin(ddir, "dicom-node", "add", "--tenant", "bench", "--ae", SCU_AET, "--host", "127.0.0.1",
                   "--port", str(CALLER_ONLY_PORT))
        for ae, port in self.scp_nodes:
            self.admin(ddir, "dicom-node", "add", "--tenant", "bench", "--ae", ae, "--host", "127.0.0.1",
                       "--port", str(port))
        out = self.admin(ddir, "token", "create", "--tenant", "bench", "--name", "bench",
                         "--scope", "dicomweb:read,dicomweb:write")
        lines = [l.strip() for l in out.splitlines() if l.strip()]
        if len(lines) != 1 and "token create printed more than one line" not in self.notes:
            self.notes.append("token create printed more than one line; using the last one")
        if not lines or " " in lines[-1]:
            raise BenchError(f"token create did not print a bare token: {out!r}")
        self.headers = {"Authorization": f"Bearer {lines[-1]}"}
        self.port = free_port()
        self.dicom_port = free_port()
        while self.dicom_port == self.port:
            self.dicom_port = free_port()
        logf = os.path.join(self.work, f"voxelgate-{self.gen}.log")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--data-dir", ddir, "--listen", f"127.0.0.1:{self.port}",
             "--dicom-listen", f"127.0.0.1:{self.dicom_port}"],
            stdin=subprocess.DEVNULL, stdout=open(logf, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        self._register(self.bin)
        self.logf = logf
        self.ready_s = self._wait_ready("/readyz", logf)
        return self.ready_s

    def version(self):
        st = os.stat(self.bin)
        try:
            v = subprocess.run([self.bin, "version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            v = None
        return {"binary": getattr(self, "orig_bin", self.bin), "version": v, "size": st.st_size,
                "mtime": datetime.datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds")}


class Orthanc(Server):
    name = "orthanc"
    dw = "/dicom-web"

    def __init__(self, work, root):
        super().__init__(work)
        shared_cfg = os.path.normpath(os.path.join(root, SHARED, "config", "orthanc-tuned.json"))
        if os.path.exists(shared_cfg):
            self.base_cfg, self.cfg_src = json.load(open(shared_cfg)), shared_cfg
        else:
            self.base_cfg, self.cfg_src = json.loads(json.dumps(ORTHANC_TUNED_FALLBACK)), "built-in copy"
        plugins = [p for p in self.base_cfg.get("Plugins", []) if os.path.exists(p)]
        if not plugins:
            cands = [os.path.join(d, f) for d in ("/usr/lib/orthanc", "/usr/share/orthanc/plugins")
                     if os.path.isdir(d) for f in sorted(os.listdir(d)) if "DicomWeb" in f]
            plugins = cands[:1]
        self.plugins = plugins

    @staticmethod
    def available(root):
        return os.access(ORTHANC_BIN, os.X_OK)

    def start(self):
        if not self.plugins:
            raise BenchError("Orthanc DICOMweb plugin not found")
        self.gen += 1
        sdir = fresh_data_dir(self.work, "orthanc-db", self.gen)
        self.data_dir = sdir
        self.port = free_port()
        dport = free_port()
        while dport == self.port:
            dport = free_port()
        self.dicom_port = dport
        cfg = json.loads(json.dumps(self.base_cfg))
        cfg.update({"StorageDirectory": sdir, "IndexDirectory": sdir, "HttpPort": self.port,
                    "DicomPort": dport, "Plugins": self.plugins})
        self.called_ae = cfg.get("DicomAet", "ORTHANC")
        # the calling node (C-MOVE is allowed only to known modalities) and the C-MOVE destination
        mods = dict(cfg.get("DicomModalities") or {})
        mods["benchscu"] = [SCU_AET, "127.0.0.1", CALLER_ONLY_PORT]
        for ae, port in self.scp_nodes:
            mods[ae.lower()] = [ae, "127.0.0.1", port]
        cfg["DicomModalities"] = mods
        cfg.setdefault("DicomWeb", {})["Host"] = f"127.0.0.1:{self.port}"
        cfg_path = os.path.join(self.work, "orthanc.json")
        json.dump(cfg, open(cfg_path, "w"), indent=1)
        logf = os.path.join(self.work, f"orthanc-{self.gen}.log")
        self.proc = subprocess.Popen([ORTHANC_BIN, cfg_path], cwd=self.work,
                                     env={**os.environ, "TCP_NODELAY": "1"},
                                     stdin=subprocess.DEVNULL, stdout=open(logf, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self._register(ORTHANC_BIN)
        self.logf = logf
        self.ready_s = self._wait_ready("/system", logf)
        return self.ready_s

    def version(self):
        c = Conn(self.port)
        out = {"config": self.cfg_src, "env": "TCP_NODELAY=1", "aet": self.called_ae}
        try:
            st, _, d = c.request("GET", "/system")
            out["orthanc"] = json.loads(d).get("Version")
            st, _, d = c.request("GET", "/plugins/dicom-web")
            out["dicomweb_plugin"] = json.loads(d).get("Version") if st == 200 else None
        except (BenchError, ValueError):
            pass
        c.close()
        return out


# ------------------------------------------------------------------ ingest
def stow_check(status, data, notes, tag):
    if status != 200:
        notes.append(f"{tag}: HTTP {status}: {data[:300]!r}")
        return False
    try:
        j = json.loads(data) if data else {}
    except ValueError:
        notes.append(f"{tag}: STOW response is not JSON: {data[:200]!r}")
        return True
    if isinstance(j, dict) and j.get("00081198", {}).get("Value"):
        notes.append(f"{tag}: FailedSOPSequence present: {json.dumps(j['00081198'])[:300]}")
        return False
    return True


def check_stored_count(server, sers, n, x):
    """Records in x how many instances QIDO reports for the series, and any mismatch with n."""
    try:
        got = sum(server.count_instances(s["study"], s["series"]) for s in sers)
    except (BenchError, ValueError) as e:
        got = None
        x["errors"].append(f"counting stored instances: {e}")
    x["stored"] = got
    if got is not None and got != n:
        x["errors"].append(f"expected {n} instances stored, QIDO reports {got}")


def ingest_run(server, client_bodies, nbytes, n_expected, checks):
    """One timed ingest on a fresh server. client_bodies: list (per client) of lists of bodies."""
    server.start()
    os.sync()
    time.sleep(0.5)
    conns = [Conn(server.port) for _ in client_bodies]
    for c in conns:
        c._open()
    errors, statuses = [], []
    barrier = threading.Barrier(len(conns) + 1)
    hdr = {**server.headers, "Content-Type": STOW_CT, "Accept": ACCEPT_JSON}

    def client(i):
        try:
            barrier.wait()
            for k, b in enumerate(client_bodies[i]):
                st, _, data = conns[i].request("POST", f"{server.dw}/studies", b, hdr)
                statuses.append(st)
                if not stow_check(st, data, errors, f"client {i} request {k}"):
                    pass
        except Exception as e:  # noqa: BLE001 - reported, not raised, from a thread
            errors.append(f"client {i}: {e}")

    ths = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(len(conns))]
    for t in ths:
        t.start()
    c0 = cpu_s(server.pid)
    barrier.wait()
    t0 = time.perf_counter()
    for t in ths:
        t.join(HTTP_TIMEOUT * 4)
    dt = time.perf_counter() - t0
    cpu = cpu_s(server.pid) - c0
    for c in conns:
        if c.connects > 1:
            checks.append(f"STOW: server closed the keep-alive connection ({c.connects} connects for "
                          f"{len(client_bodies[0])} requests)")
        c.close()
    if any(t.is_alive() for t in ths):
        errors.append("a STOW client did not finish in time")
    rss = server.rss()
    return {"seconds": round(dt, 3), "inst_per_s": round(n_expected / dt, 1),
            "MB_per_s": round(nbytes / 1e6 / dt, 1), "server_cpu_s": round(cpu, 2),
            "server_cpu_ms_per_inst": round(1000 * cpu / n_expected, 2),
            "rss_hwm_mb": rnd(rss.get("VmHWM")), "http_status": sorted(set(statuses)), "errors": errors}


def ingest(server, man, bodies, runs, res, leave_running):
    s0, s1 = man["series"][0], man["series"][1]
    b0 = sum(f["size"] for f in s0["files"])
    b1 = sum(f["size"] for f in s1["files"])
    checks = res["checks"]
    tests = [("stow_1client", [bodies[0]], b0, len(s0["files"]), [s0]),
             ("stow_2clients", [bodies[0], bodies[1]], b0 + b1, len(s0["files"]) + len(s1["files"]), [s0, s1])]
    for ti, (name, cb, nbytes, n, sers) in enumerate(tests):
        out = []
        for r in range(runs):
            last = ti == len(tests) - 1 and r == runs - 1
            try:
                x = ingest_run(server, cb, nbytes, n, checks)  # a start-up failure aborts the ingest
                check_stored_count(server, sers, n, x)
                if last:
                    res["data_dir_bytes_400"] = du_bytes(server.data_dir)
            finally:
                if not (last and leave_running):
                    server.stop()
            log(f"  {server.name} {name} run {r + 1}: {x['seconds']} s, {x['inst_per_s']} inst/s, "
                f"{x['MB_per_s']} MB/s, server CPU {x['server_cpu_ms_per_inst']} ms/inst, "
                f"HWM {x['rss_hwm_mb']} MB" + (f"  ERRORS: {x['errors']}" if x["errors"] else ""))
            out.append(x)
        ok = [x for x in out if not x["errors"]]
        for x in out:
            for e in x["errors"]:
                if e not in checks:
                    checks.append(f"{name}: {e}")
        res[name] = {"instances": n, "bytes": nbytes, "per_request": PER_REQ, "runs": out,
                     "valid_runs": len(ok),
                     "median": {k: rnd(med([x[k] for x in ok]), 3 if k == "seconds" else 1)
                                for k in ("seconds", "inst_per_s", "MB_per_s", "server_cpu_ms_per_inst")}}


# ------------------------------------------------------------------ DIMSE
def storescu_cmd(server, sdir):
    # as in the peer study: stock storescu, default options (16 KB receive PDU, uncompressed proposals)
    return ["storescu", "-aet", SCU_AET, "-aec", server.called_ae, "+sd", "127.0.0.1", str(server.dicom_port), sdir]


def dimse_run(server, sers, nodelay, nbytes, n_expected, tag):
    """One timed storescu ingest on a fresh server: one association (one storescu) per series, all at once."""
    server.start()
    server.wait_dicom()
    os.sync()
    time.sleep(0.5)
    cmds = [storescu_cmd(server, s["dir"]) for s in sers]
    c0 = cpu_s(server.pid)
    dt, outs = run_tools(cmds, tool_env(nodelay), DIMSE_TIMEOUT, tag)
    cpu = cpu_s(server.pid) - c0
    errors = []
    for i, (rc, out) in enumerate(outs):
        if rc is None:
            errors.append(f"storescu {i} did not finish within {DIMSE_TIMEOUT} s")
        elif rc != 0:
            errors.append(f"storescu {i} exited rc={rc}: {out_tail(out)}")
        elif "E: " in out:
            errors.append(f"storescu {i} logged errors: {out_tail(out)}")
    rss = server.rss()
    return {"seconds": round(dt, 3), "inst_per_s": round(n_expected / dt, 1),
            "MB_per_s": round(nbytes / 1e6 / dt, 1), "server_cpu_s": round(cpu, 2),
            "server_cpu_ms_per_inst": round(1000 * cpu / n_expected, 2),
            "rss_hwm_mb": rnd(rss.get("VmHWM")), "errors": errors}


def dimse_ingest(server, man, runs, res):
    s0, s1 = man["series"][0], man["series"][1]
    checks = res["checks"]
    tests = [("dimse_1assoc", [s0], False), ("dimse_2assoc", [s0, s1], False),
             ("dimse_1assoc_scu_nodelay", [s0], True), ("dimse_2assoc_scu_nodelay", [s0, s1], True)]
    for name, sers, nodelay in tests:
        n = sum(len(s["files"]) for s in sers)
        nbytes = sum(f["size"] for s in sers for f in s["files"])
        out = []
        for r in range(runs):
            try:
                x = dimse_run(server, sers, nodelay, nbytes, n, f"{server.name}-{name}-{r + 1}")
                check_stored_count(server, sers, n, x)
            finally:
                server.stop()
            log(f"  {server.name} {name} run {r + 1}: {x['seconds']} s, {x['inst_per_s']} inst/s, "
                f"{x['MB_per_s']} MB/s, server CPU {x['server_cpu_ms_per_inst']} ms/inst, "
                f"HWM {x['rss_hwm_mb']} MB" + (f"  ERRORS: {x['errors']}" if x["errors"] else ""))
            out.append(x)
        ok = [x for x in out if not x["errors"]]
        for x in out:
            for e in x["errors"]:
                if f"{name}: {e}" not in checks:
                    checks.append(f"{name}: {e}")
        res[name] = {"instances": n, "bytes": nbytes, "associations": len(sers),
                     "command": " ".join(storescu_cmd(server, "SERIESDIR")),
                     "storescu_env": "TCP_NODELAY=1" if nodelay else "(no TCP_NODELAY)",
                     "runs": out, "valid_runs": len(ok),
                     "median": {k: rnd(med([x[k] for x in ok]), 3 if k == "seconds" else 1)
                                for k in ("seconds", "inst_per_s", "MB_per_s", "server_cpu_ms_per_inst")}}


def cmove(server, scp, man, runs, res, key):
    """C-MOVE of series 1 (200 instances) to a storescp destination, on the running server."""
    s0 = man["series"][0]
    n = len(s0["files"])
    nbytes = sum(f["size"] for f in s0["files"])
    want = {f["sop"] for f in s0["files"]}
    server.wait_dicom()
    cmd = ["movescu", "-S", "-aet", SCU_AET, "-aec", server.called_ae, "-aem", scp.aet,
           "-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={s0['study']}",
           "-k", f"SeriesInstanceUID={s0['series']}", "127.0.0.1", str(server.dicom_port)]
    out = []
    for r in range(runs):
        scp.clear()
        os.sync()
        time.sleep(0.3)
        c0 = cpu_s(server.pid)
        dt, ((rc, text),) = run_tools([cmd], tool_env(False), DIMSE_TIMEOUT, f"{server.name}-{key}-{r + 1}")
        cpu = cpu_s(server.pid) - c0
        errors = []
        if rc != 0:
            errors.append(f"movescu exited rc={rc}: {out_tail(text)}")
        elif "E: " in text:
            errors.append(f"movescu logged errors: {out_tail(text)}")
        files = scp.files()
        for _ in range(20):  # storescp writes each file before its C-STORE-RSP; this is only a safety net
            if len(files) >= n:
                break
            time.sleep(0.1)
            files = scp.files()
        got = {f.split(".", 1)[1] for f in files if "." in f}
        if len(files) != n:
            errors.append(f"storescp received {len(files)} files, expected {n}")
        elif got != want:
            errors.append(f"storescp files do not match the series' SOP Instance UIDs "
                          f"({len(got & want)} of {n} match)")
        x = {"seconds": round(dt, 3), "inst_per_s": round(n / dt, 1), "MB_per_s": round(nbytes / 1e6 / dt, 1),
             "server_cpu_ms_per_inst": round(1000 * cpu / n, 2), "files": len(files), "errors": errors}
        log(f"  {server.name} {key} run {r + 1}: {x['seconds']} s, {x['MB_per_s']} MB/s, "
            f"{len(files)} files" + (f"  ERRORS: {errors}" if errors else ""))
        out.append(x)
    ok = [x for x in out if not x["errors"]]
    for x in out:
        for e in x["errors"]:
            if f"{key}: {e}" not in res["checks"]:
                res["checks"].append(f"{key}: {e}")
    scp.clear()
    res[key] = {"instances": n, "bytes": nbytes, "command": " ".join(cmd),
                "destination": f"storescp -aet {scp.aet} -od DIR {scp.port} "
                               f"({'TCP_NODELAY=1' if scp.nodelay else 'no TCP_NODELAY'})",
                "runs": out, "valid_runs": len(ok),
                "median": {k: rnd(med([x[k] for x in ok]), 3 if k == "seconds" else 1)
                           for k in ("seconds", "inst_per_s", "MB_per_s", "server_cpu_ms_per_inst")}}


# ------------------------------------------------------------------ reads
def curl_times(server, path, n, accept, warm, cfgname):
    """n+warm GETs of one URL on one keep-alive curl connection; per-transfer time_total."""
    url = f"http://127.0.0.1:{server.port}{path}"
    cfg = os.path.join(A.work, cfgname + ".curl")
    with open(os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write("silent\nshow-error\ngloboff\nnoproxy = \"*\"\n")
        for k, v in {**server.headers, "Accept": accept}.items():
            fh.write(f'header = "{k}: {v}"\n')
        fh.write('write-out = "%{time_total} %{size_download} %{http_code} %{num_connects}\\n"\n')
        for _ in range(n + warm):
            fh.write(f'url = "{url}"\noutput = "/dev/null"\n')
    r = subprocess.run(["curl", "-K", cfg], capture_output=True, text=True,
                       timeout=HTTP_TIMEOUT + 30 * (n + warm))
    rows = [l.split() for l in r.stdout.splitlines() if l.strip()]
    if r.returncode != 0 or len(rows) != n + warm:
        raise BenchError(f"curl GET {path} rc={r.returncode}: {r.stderr.strip()[:300]}")
    codes = {row[2] for row in rows}
    if codes != {"200"}:
        raise BenchError(f"GET {path} (Accept: {accept}) -> HTTP {sorted(codes)}")
    rows = rows[warm:]
    t = [float(x[0]) * 1000 for x in rows]
    sizes = [int(x[1]) for x in rows]
    connects = sum(int(x[3]) for x in rows)
    m = statistics.median(t)
    return {"path": path, "accept": accept, "n": n, "median_ms": round(m, 2), "p90_ms": round(p90(t), 2),
            "min_ms": round(min(t), 2), "max_ms": round(max(t), 2), "bytes": sizes[0],
            "MB_per_s": round(sizes[0] / 1e3 / m, 1), "new_connections": connects}


def correctness(server, man, res):
    """Untimed checks of the responses the timed loops fetch; anything odd goes to res['checks']."""
    s0 = man["series"][0]
    st, se = s0["study"], s0["series"]
    name = s0["patient_name"]
    chk = res["checks"]
    c = Conn(server.port)
    H = server.headers
    code, ct, d = c.request("GET", f"{server.dw}/studies?PatientName={name}", headers={**H, "Accept": ACCEPT_JSON})
    if code != 200:
        chk.append(f"QIDO /studies?PatientName={name}: HTTP {code} {d[:200]!r}")
    else:
        j = json.loads(d)
        if len(j) != 1 or j[0].get("0020000D", {}).get("Value", [None])[0] != st:
            chk.append(f"QIDO /studies?PatientName={name}: expected 1 study {st}, got {len(j)} results")
    if server.name == "voxelgate":
        enc = name.replace("^", "%5E")
        code, _, d = c.request("GET", f"{server.dw}/studies?PatientName={enc}", headers={**H, "Accept": ACCEPT_JSON})
        if code != 200 or len(json.loads(d or b"[]")) != 1:
            chk.append(f"QIDO PatientName={enc} (percent-encoded ^): HTTP {code}, expected 1 study")
        code, _, d = c.request("GET", f"{server.dw}/studies?PatientName={name}", headers={"Accept": ACCEPT_JSON})
        if code != 401:
            chk.append(f"QIDO without Authorization: expected 401, got HTTP {code}")
    code, ct, d = c.request("GET", f"{server.dw}/studies/{st}/series/{se}/instances",
                            headers={**H, "Accept": ACCEPT_JSON})
    if code != 200 or len(json.loads(d or b"[]")) != len(s0["files"]):
        chk.append(f"QIDO instances of series 1: HTTP {code}, expected {len(s0['files'])} results, "
                   f"got {len(json.loads(d)) if code == 200 else '-'}")
    code, ct, d = c.request("GET", f"{server.dw}/studies/{st}/series/{se}/metadata",
                            headers={**H, "Accept": ACCEPT_JSON})
    if code != 200:
        chk.append(f"series metadata: HTTP {code}")
    else:
        j = json.loads(d)
        if len(j) != len(s0["files"]):
            chk.append(f"series metadata: expected {len(s0['files'])} datasets, got {len(j)}")
        elif "00280010" not in j[0] or "00200032" not in j[0]:
            chk.append("series metadata: Rows (00280010) or ImagePositionPatient (00200032) missing")
        res["metadata_bytes"] = len(d)
    code, ct, d = c.request("GET", f"{server.dw}/studies/{st}/series/{se}", headers={**H, "Accept": ACCEPT_MP})
    nbytes = sum(f["size"] for f in s0["files"])
    if code != 200:
        chk.append(f"WADO series: HTTP {code}")
    else:
        if not ct.lower().startswith("multipart/related"):
            chk.append(f"WADO series: Content-Type {ct!r}")
        bnd = [p.split("=", 1)[1].strip('"') for p in ct.split(";") if p.strip().lower().startswith("boundary=")]
        nparts = d.count(b"--" + bnd[0].encode() + b"\r\n") if bnd else -1
        if nparts != len(s0["files"]):
            chk.append(f"WADO series: expected {len(s0['files'])} parts, found {nparts}")
        if len(d) < nbytes:
            chk.append(f"WADO series: {len(d)} bytes < {nbytes} bytes of DICOM sent")
        sop = s0["files"][0]["sop"].encode()
        if sop not in d:
            chk.append("WADO series: first SOP Instance UID not found in the payload")
        res["wado_series_bytes"] = len(d)
    c.close()


def reads(server, man, res):
    s0 = man["series"][0]
    st, se = s0["study"], s0["series"]
    dw = server.dw
    try:
        correctness(server, man, res)
    except (BenchError, ValueError, KeyError, IndexError) as e:
        res["checks"].append(f"correctness checks aborted: {type(e).__name__}: {e}")
    nbytes = sum(f["size"] for f in s0["files"])
    todo = [("qido_study_search", f"{dw}/studies?PatientName={s0['patient_name']}", 100, ACCEPT_JSON, 3),
            ("qido_series_instances", f"{dw}/studies/{st}/series/{se}/instances", 20, ACCEPT_JSON, 2),
            ("wado_series", f"{dw}/studies/{st}/series/{se}", 5, ACCEPT_MP, 1),
            ("series_metadata", f"{dw}/studies/{st}/series/{se}/metadata", 20, ACCEPT_JSON, 2)]
    for key, path, n, acc, warm in todo:
        try:
            x = curl_times(server, path, n, acc, warm, f"{server.name}-{key}")
            if key == "wado_series":
                x["dicom_bytes"] = nbytes
                x["MB_per_s_dicom"] = round(nbytes / 1e3 / x["median_ms"], 1)
            if x["new_connections"] > 1:
                res["checks"].append(f"{key}: keep-alive not honoured ({x['new_connections']} connections "
                                     f"for {n} requests)")
            res[key] = x
            log(f"  {server.name} {key}: median {x['median_ms']} ms, p90 {x['p90_ms']} ms, "
                f"{x['bytes']} B" + (f", {x['MB_per_s']} MB/s" if key == "wado_series" else ""))
        except (BenchError, subprocess.TimeoutExpired) as e:
            res["errors"].append(f"{key}: {e}")
            log(f"  {server.name} {key}: ERROR {e}")


def bench_server(server, man, bodies, res):
    res.update({"checks": [], "errors": []})
    scps = []
    errs = (BenchError, OSError, ValueError, subprocess.SubprocessError)
    try:
        try:  # the C-MOVE destinations, registered at every server start
            for aet, nodelay in ((SCP_AET, False), (SCP_ND_AET, True)):
                scps.append(StoreScp(A.work, server.name, aet, nodelay))
            server.scp_nodes = [(x.aet, x.port) for x in scps]
        except errs as e:
            res["errors"].append(f"storescp (C-MOVE destination): {type(e).__name__}: {e}")
            log(f"  {server.name}: ERROR storescp: {e}")
        try:
            ingest(server, man, bodies, A.runs, res, leave_running=True)
            if server.proc is None:
                raise BenchError("ingest did not leave a running server with data")
            res["version"] = server.version()
            res["ready_s"] = rnd(server.ready_s, 3)
            res["rss_after_ingest_mb"] = rnd(server.rss().get("VmRSS"))
            reads(server, man, res)
            res["rss_end_mb"] = rnd(server.rss().get("VmRSS"))
            for scp in scps if len(scps) == 2 else []:
                key = "cmove_series_scp_nodelay" if scp.nodelay else "cmove_series"
                try:
                    cmove(server, scp, man, A.runs, res, key)
                except errs as e:
                    res["errors"].append(f"{key}: {type(e).__name__}: {e}")
                    log(f"  {server.name} {key}: ERROR {e}")
        except errs as e:
            res["errors"].append(f"{type(e).__name__}: {e}")
            log(f"  {server.name}: ERROR {e}")
        finally:
            server.stop()
        try:
            dimse_ingest(server, man, A.runs, res)
        except errs as e:
            res["errors"].append(f"DIMSE ingest: {type(e).__name__}: {e}")
            log(f"  {server.name} DIMSE ingest: ERROR {e}")
    finally:
        server.stop()
        for scp in scps:
            scp.stop()
        kill_live()
        res["peak_rss_mb"] = rnd(max(server.hwm_mb)) if server.hwm_mb else None
        res["checks"] += server.notes
        if server.name and getattr(server, "logf", None):
            res["log_tail"] = tail(server.logf, 15) if res["errors"] else None


# ------------------------------------------------------------------ report
def fmt(v, unit=""):
    if v is None:
        return "-"
    return f"{v:,.1f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def report(results):
    vx = results["servers"].get("voxelgate", {})
    orc = results["servers"].get("orthanc", {})
    rows = [  # label, keys, kind (thr: higher better, lat: lower better), target
        ("STOW 1 client, inst/s", ("stow_1client", "median", "inst_per_s"), "thr", ("ratio", 4.0, ">= 4x Orthanc")),
        ("STOW 1 client, MB/s", ("stow_1client", "median", "MB_per_s"), "thr", None),
        ("STOW 2 clients, inst/s", ("stow_2clients", "median", "inst_per_s"), "thr", ("ratio", 4.0, ">= 4x Orthanc")),
        ("STOW 2 clients, MB/s", ("stow_2clients", "median", "MB_per_s"), "thr", None),
        ("STOW server CPU, ms/inst (1 client)", ("stow_1client", "median", "server_cpu_ms_per_inst"), "lat", None),
        ("DIMSE storescu 1 assoc, inst/s", ("dimse_1assoc", "median", "inst_per_s"), "thr",
         ("ratio", 4.0, ">= 4x Orthanc")),
        ("DIMSE storescu 1 assoc, MB/s", ("dimse_1assoc", "median", "MB_per_s"), "thr", None),
        ("DIMSE storescu 2 assoc, inst/s", ("dimse_2assoc", "median", "inst_per_s"), "thr",
         ("ratio", 4.0, ">= 4x Orthanc")),
        ("DIMSE storescu 2 assoc, MB/s", ("dimse_2assoc", "median", "MB_per_s"), "thr", None),
        ("DIMSE server CPU, ms/inst (1 assoc)", ("dimse_1assoc", "median", "server_cpu_ms_per_inst"), "lat", None),
        ("DIMSE 1 assoc, scu TCP_NODELAY=1 (ref), inst/s", ("dimse_1assoc_scu_nodelay", "median", "inst_per_s"),
         "thr", None),
        ("DIMSE 2 assoc, scu TCP_NODELAY=1 (ref), inst/s", ("dimse_2assoc_scu_nodelay", "median", "inst_per_s"),
         "thr", None),
        ("C-MOVE series to storescp, median s", ("cmove_series", "median", "seconds"), "lat", None),
        ("C-MOVE series, MB/s", ("cmove_series", "median", "MB_per_s"), "thr", None),
        ("C-MOVE, storescp TCP_NODELAY=1 (ref), median s", ("cmove_series_scp_nodelay", "median", "seconds"),
         "lat", None),
        ("QIDO study search, median ms", ("qido_study_search", "median_ms"), "lat", None),
        ("QIDO study search, p90 ms", ("qido_study_search", "p90_ms"), "lat", None),
        ("QIDO 200 instances, median ms", ("qido_series_instances", "median_ms"), "lat", ("abs_le", 15.0, "<= 15 ms")),
        ("QIDO 200 instances, p90 ms", ("qido_series_instances", "p90_ms"), "lat", None),
        ("WADO series (105 MB), median ms", ("wado_series", "median_ms"), "lat", None),
        ("WADO series, MB/s", ("wado_series", "MB_per_s"), "thr", ("abs_ge", 1000.0, ">= 1 GB/s")),
        ("Series metadata, median ms", ("series_metadata", "median_ms"), "lat", ("abs_le", 20.0, "<= 20 ms")),
        ("Series metadata, p90 ms", ("series_metadata", "p90_ms"), "lat", None),
        ("Peak RSS, MB (max VmHWM)", ("peak_rss_mb",), "lat", None),
    ]
    table, targets = [], []
    for label, keys, kind, tgt in rows:
        v, o = _get(vx, keys), _get(orc, keys)
        ratio = None
        if v and o:
            ratio = v / o if kind == "thr" else o / v
        status = ""
        if tgt:
            t_kind, t_val, t_txt = tgt
            if t_kind == "ratio":
                ok = None if ratio is None else ratio >= t_val
            elif t_kind == "abs_le":
                ok = None if v is None else v <= t_val
            else:
                ok = None if v is None else v >= t_val
            status = "n/a" if ok is None else ("PASS" if ok else "FAIL")
            targets.append({"figure": label, "target": t_txt, "voxelgate": v, "orthanc": o,
                            "ratio": rnd(ratio, 2), "status": status})
            status = f"{t_txt}: {status}"
        table.append({"figure": label, "voxelgate": v, "orthanc": o, "ratio": rnd(ratio, 2), "target": status})
    results["table"], results["targets"] = table, targets
    w = max(len(r["figure"]) for r in table)
    log("")
    log(f"{'figure'.ljust(w)} | {'voxelgate':>10} | {'Orthanc':>10} | {'ratio':>6} | target")
    log(f"{'-' * w}-+-{'-' * 10}-+-{'-' * 10}-+-{'-' * 6}-+-------------------")
    for r in table:
        log(f"{r['figure'].ljust(w)} | {fmt(r['voxelgate']):>10} | {fmt(r['orthanc']):>10} | "
            f"{'-' if r['ratio'] is None else format(r['ratio'], '.2f'):>6} | {r['target']}")
    log("ratio: voxelgate/Orthanc for throughput, Orthanc/voxelgate for latency and RSS (>1 = voxelgate better).")
    share = results["meta"].get("foreign_cpu_share", 0)
    log(f"other processes used {100 * share:.0f}% of the machine's CPU during the bench"
        + (" -- figures are DISTURBED, rerun on an idle machine" if share > 0.05 else " (quiet)"))
    if orc.get("skipped"):
        log(f"Orthanc peer skipped: {orc['skipped']}")
    for name, r in results["servers"].items():
        for e in r.get("errors", []):
            log(f"{name} ERROR: {e}")
        for c in r.get("checks", []):
            log(f"{name} check: {c}")


def _get(d, keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


# ------------------------------------------------------------------ main
def main():
    global A, PIDFILE
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["voxelgate", "orthanc"])
    ap.add_argument("--bin", default=None)
    A = ap.parse_args()
    PIDFILE = os.path.join(A.work, "pids")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = os.path.abspath(A.root)
    vbin = os.path.abspath(A.bin or os.path.join(root, "build", "voxelgate"))
    t_start = time.time()
    busy0, own0 = busy_jiffies(), own_cpu()
    results = {"meta": {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                        "host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
                        "runs": A.runs, "per_request": PER_REQ, "dimse_calling_ae": SCU_AET,
                        "cmove_destination_ae": [SCP_AET, SCP_ND_AET],
                        "note": "client and server share the same cores; reads are warm page cache"},
               "servers": {}}
    man = ensure_dataset(root)
    s0, s1 = man["series"][0], man["series"][1]
    results["dataset"] = {"series": 2, "slices": SLICES, "patient_name": s0["patient_name"],
                          "study": s0["study"], "series_uids": [s0["series"], s1["series"]],
                          "bytes_per_series": [sum(f["size"] for f in s["files"]) for s in (s0, s1)]}
    log("building STOW bodies in memory ...")
    bodies = [build_bodies(s0), build_bodies(s1)]
    servers = []
    if A.only != "orthanc":
        if not os.access(vbin, os.X_OK):
            log(f"ERROR: {vbin} not found or not executable (build it first)")
            return 2
        # run a private copy, so that a rebuild of build/voxelgate during the bench cannot mix versions
        snap = os.path.join(A.work, "voxelgate")
        shutil.copy2(vbin, snap)
        vg = Voxelgate(A.work, snap)
        vg.orig_bin = vbin
        servers.append(vg)
    if A.only != "voxelgate":
        if Orthanc.available(root):
            servers.append(Orthanc(A.work, root))
        else:
            results["servers"]["orthanc"] = {"skipped": f"{ORTHANC_BIN} not installed"}
    rc = 0
    try:
        for srv in servers:
            log(f"== {srv.name}")
            res = results["servers"].setdefault(srv.name, {})
            bench_server(srv, man, bodies, res)
            if res["errors"] and srv.name == "voxelgate":
                rc = 1
    finally:
        kill_live()
        for srv in servers:
            srv.stop()
    wall = time.time() - t_start
    results["meta"]["seconds"] = round(wall, 1)
    foreign = max(0.0, (busy_jiffies() - busy0) - (own_cpu() - own0))
    share = foreign / (wall * (os.cpu_count() or 1))
    results["meta"]["foreign_cpu_s"] = round(foreign, 1)
    results["meta"]["foreign_cpu_share"] = round(share, 3)
    results["meta"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    report(results)
    out = os.path.join(root, "build", "bench-results.json")
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1)
    log(f"\nresults: {out}  ({results['meta']['seconds']} s)")
    if os.environ.get("BENCH_STRICT") and any(t["status"] != "PASS" for t in results["targets"]):
        rc = rc or 3
    return rc


if __name__ == "__main__":
    sys.exit(main())
