#!/usr/bin/python3
"""The software bill of materials of a built voxelgate binary, as CycloneDX 1.5 JSON.

  scripts/sbom.py BINARY VERSION [OUT]   (OUT: the file to write; standard output without it)

Components are the Debian packages the binary links (every shared library `ldd` resolves,
mapped to its package by dpkg) and the header-only libraries compiled into it. Run by the
build after each link (src/app/CMakeLists.txt), so the SBOM always matches the binary.
"""

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timezone

# Compiled in from headers: no shared library names them.
HEADER_ONLY = ["nlohmann-json3-dev", "libboost-dev", "libtomlplusplus-dev"]


def linked_libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        parts = line.split("=>")
        target = (parts[1] if len(parts) == 2 else parts[0]).strip().split(" (")[0].strip()
        if target.startswith("/"):
            paths.append(target)
    return paths


def owners(paths):
    """Package owning each path (merged /usr: try the path, its real path, and without /usr)."""
    candidates = {}
    for p in paths:
        real = os.path.realpath(p)
        for c in {p, real, real.replace("/usr/lib/", "/lib/", 1), p.replace("/usr/lib/", "/lib/", 1)}:
            candidates.setdefault(c, p)
    result = subprocess.run(["dpkg", "-S", *candidates.keys()], capture_output=True, text=True)
    found = {}
    for line in result.stdout.splitlines():
        if ": " not in line:
            continue
        package, path = line.split(": ", 1)
        found[candidates.get(path.strip(), path.strip())] = package.split(",")[0].strip()
    return found


def versions(packages):
    if not packages:
        return {}
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Architecture}\t${Version}\t${source:Package}\t${db:Status-Status}\n",
                             *packages], capture_output=True, text=True)
    out = {}
    for line in result.stdout.splitlines():
        name, arch, version, source, status = (line.split("\t") + ["", "", "", "", ""])[:5]
        if status == "installed":
            out[name.split(":")[0]] = {"arch": arch, "version": version, "source": source}
    return out


def main():
    binary, version = sys.argv[1], sys.argv[2]
    paths = linked_libraries(binary)
    by_path = owners(paths)
    packages = sorted({p.split(":")[0] for p in by_path.values()} | set(HEADER_ONLY))
    info = versions(packages)
    components = []
    for name in packages:
        if name not in info:
            continue
        v = info[name]
        purl = f"pkg:deb/debian/{name}@{v['version']}?arch={v['arch']}"
        component = {"type": "library", "bom-ref": purl, "name": name, "version": v["version"], "purl": purl,
                     "properties": [{"name": "voxelgate:linkage",
                                     "value": "header-only" if name in HEADER_ONLY else "shared"}]}
        if v["source"] and v["source"] != name:
            component["properties"].append({"name": "debian:source", "value": v["source"]})
        components.append(component)
    unowned = sorted(p for p in paths if p not in by_path)
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "voxelgate scripts/sbom.py"}]},
            "component": {"type": "application", "bom-ref": f"voxelgate@{version}", "name": "voxelgate", "version": version},
            "properties": [{"name": "voxelgate:unpackaged-library", "value": p} for p in unowned],
        },
        "components": components,
        "dependencies": [{"ref": f"voxelgate@{version}", "dependsOn": [c["bom-ref"] for c in components]}],
    }
    text = json.dumps(bom, indent=1) + "\n"
    if len(sys.argv) > 3:
        with open(sys.argv[3] + ".tmp", "w") as out:
            out.write(text)
        os.replace(sys.argv[3] + ".tmp", sys.argv[3])
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
