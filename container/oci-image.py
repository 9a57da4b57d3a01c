#!/usr/bin/env python3
"""Writes Volley's image as an OCI image-layout archive, without a container engine.

The image is the one `container/Containerfile` describes (FROM scratch, the rootfs made by
`container/build-rootfs.sh`, user 65532, entrypoint `volley`), written directly in the OCI
image-layout format (oci-layout, index.json, blobs/sha256/...) so that machines with no
container engine can still produce it; `podman load -i`, `skopeo copy oci-archive:...` and
Docker 25+'s `docker load` read it. The output is reproducible: files are sorted, owned by
root (the home folder by the image user) and dated at the epoch.

usage: oci-image.py ROOTFS OUT.tar [--tag volley:VERSION]
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

USER = "65532:65532"


def layer_tar(rootfs: str) -> bytes:
    """The rootfs as an uncompressed tar, reproducible."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                paths.append(os.path.join(dirpath, name))
        for path in sorted(paths):
            rel = os.path.relpath(path, rootfs)
            info = tar.gettarinfo(path, arcname=rel)
            info.mtime = 0
            info.uname = info.gname = ""
            info.uid = info.gid = 0
            if rel == "home/volley":
                info.uid = info.gid = 65532
            if info.isfile():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def blob(out: tarfile.TarFile, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    info.mtime = 0
    out.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def main(argv: list) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    rootfs, out_path = argv[1], argv[2]
    tag = "volley:latest"
    if "--tag" in argv:
        tag = argv[argv.index("--tag") + 1]
    if not os.path.isfile(os.path.join(rootfs, "usr/local/bin/volley")):
        print(f"oci-image: {rootfs} has no usr/local/bin/volley; run build-rootfs.sh first",
              file=sys.stderr)
        return 2
    layer = layer_tar(rootfs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    layer_gz = gzip.compress(layer, compresslevel=6, mtime=0)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": USER,
            "Env": ["PATH=/usr/local/bin", "TMPDIR=/tmp"],
            "Entrypoint": ["/usr/local/bin/volley"],
            "Cmd": ["version"],
            "WorkingDir": "/home/volley",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "container/build-rootfs.sh + container/oci-image.py"}],
    }
    with tarfile.open(out_path, "w") as out:
        layout = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
        info = tarfile.TarInfo("oci-layout")
        info.size, info.mtime = len(layout), 0
        out.addfile(info, io.BytesIO(layout))
        cfg = blob(out, json.dumps(config, sort_keys=True).encode(),
                   "application/vnd.oci.image.config.v1+json")
        lay = blob(out, layer_gz, "application/vnd.oci.image.layer.v1.tar+gzip")
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": cfg,
            "layers": [lay],
        }
        man = blob(out, json.dumps(manifest, sort_keys=True).encode(),
                   "application/vnd.oci.image.manifest.v1+json")
        man["annotations"] = {"org.opencontainers.image.ref.name": tag}
        index = json.dumps({"schemaVersion": 2,
                            "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": [man]}).encode()
        info = tarfile.TarInfo("index.json")
        info.size, info.mtime = len(index), 0
        out.addfile(info, io.BytesIO(index))
    print(f"{out_path}: {tag}, layer {len(layer_gz) / 1e6:.1f} MB compressed, {diff_id[:19]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
