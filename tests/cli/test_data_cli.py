"""glassml-data: offline download tests against a loopback HTTP server with Range support.

The archive is built here in the GlassBench layout (GlassBench.zip > GlassBench/ >
KA_models/T0.44.tar.gz and KA2D_models/T0.30.tar.gz > train/ and test/ .npz files, the
time grid in KA_results/, 2D trajectories in KA2D_trajectories/); the tests cover
verification, the pooch cache, resume of an interrupted download, checksum failure, a
truncated archive, the optional 2D trajectories, and training on the extracted data.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from glassml.cli.data import translate_argv
from glassml.data.download import DownloadError, download, expand_files

from ..cli_helpers import run_module
from ..data.real_layouts import T044_TIMES, write_glassbench
from ..hydra_helpers import QUICK_TRAIN, compose_config


class FileServer:
    """Serves `files` (path -> bytes) on 127.0.0.1 with HTTP Range; can cut a response."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before the connection drops
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                rng = self.headers.get("Range")
                server.requests.append((path, rng))
                data = server.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if rng:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cut_after.pop(path, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def gets(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def glassbench_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """GlassBench.zip: GlassBench/KA_models/T0.44.tar.gz holding T0.44/{train,test}/ (4 + 2
    files), KA2D_models/T0.30.tar.gz, KA_results/times_T0.44.dat, KA2D_trajectories/."""
    base = tmp_path_factory.mktemp("gb_src")
    src3 = write_glassbench(base, 3, 0.44, n_train=4, n_test=2, n_particles=48)
    src2 = write_glassbench(base, 2, 0.30, n_train=2, n_test=1, n_particles=30, n_times=6)

    def tar(src: Path, mode: str) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as tf:
            tf.add(src, arcname=src.name)
        return buf.getvalue()

    zip_buf = io.BytesIO()
    with zipfile.ZipFile(zip_buf, "w") as zf:
        zf.writestr("GlassBench/KA_models/T0.44.tar.gz", tar(src3, "w:gz"))
        zf.writestr("GlassBench/KA2D_models/T0.30.tar.gz", tar(src2, "w:gz"))
        zf.writestr("GlassBench/KA2D_trajectories/T0.30.tar.xz", tar(src2, "w:xz"))
        zf.writestr("GlassBench/KA_trajectories/README", "3D trajectories: published elsewhere\n")
        zf.writestr("GlassBench/KA_results/times_T0.44.dat", "\n".join(map(str, T044_TIMES)))
        zf.writestr("GlassBench/README.txt", "test archive in the GlassBench layout\n")
    return zip_buf.getvalue()


@pytest.fixture
def server(glassbench_zip: bytes):
    s = FileServer()
    s.files["/GlassBench.zip"] = glassbench_zip
    yield s
    s.close()


def _opts(server: FileServer, dest: Path, **kw) -> dict:
    opts = {
        "name": "glassbench",
        "dest": dest,
        "base_url": server.url,
        "url_suffix": "?download=1",
        "files": [{"name": "GlassBench.zip", "extract": True}],
        "registry": {"GlassBench.zip": None},
        "nested": ["KA_models/*.tar.gz", "KA2D_models/*.tar.gz"],
        "expect": ["KA_models/T*/train/*.npz", "KA_models/T*/test/*.npz"],
        "progressbar": False,
    }
    opts.update(kw)
    return opts


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_translate_argv() -> None:
    assert translate_argv(["download", "glassbench", "progress=false"]) == [
        "download=glassbench",
        "progress=false",
    ]
    assert translate_argv(["download=bapst"]) == ["download=bapst"]


def test_expand_files_ranges_and_limit() -> None:
    files = [{"name": "train/a_{i}.pickle", "range": [1, 400]}, {"name": "x.zip"}]
    out = expand_files(files, "https://h/p/", "", {"x.zip": "md5:00"}, limit=2)
    assert [f.name for f in out] == ["train/a_1.pickle", "train/a_2.pickle", "x.zip"]
    assert out[0].url == "https://h/p/train/a_1.pickle" and out[0].known_hash is None
    assert out[2].known_hash == "md5:00"


def test_download_verifies_extracts_and_caches(server, glassbench_zip, tmp_path) -> None:
    dest = tmp_path / "glassbench"
    man = download(**_opts(server, dest, registry={"GlassBench.zip": _sha(glassbench_zip)}))
    assert man["files"][0]["verified"] is True
    assert len(list((dest / "KA_models" / "T0.44" / "train").glob("*.npz"))) == 4
    assert len(list((dest / "KA_models" / "T0.44" / "test").glob("*.npz"))) == 2
    assert not (dest / "KA_models" / "T0.44.tar.gz").exists()  # nested archive removed
    n = len(server.requests)
    download(**_opts(server, dest, registry={"GlassBench.zip": _sha(glassbench_zip)}))
    assert len(server.requests) == n  # verified file in the cache: no new request


def test_interrupted_download_resumes(server, glassbench_zip, tmp_path, monkeypatch) -> None:
    import glassml.data.download as dl

    monkeypatch.setattr(dl, "CHUNK", 1024)  # the chunk in flight when the link drops is lost
    dest = tmp_path / "glassbench"
    half = len(glassbench_zip) // 2
    server.cut_after["/GlassBench.zip"] = half
    opts = _opts(server, dest, registry={"GlassBench.zip": _sha(glassbench_zip)})
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download(**opts)
    part = dest / "GlassBench.zip.part"
    kept = part.stat().st_size
    assert half - 1024 < kept <= half
    assert not (dest / "GlassBench.zip").exists()
    download(**opts)
    assert server.gets("/GlassBench.zip")[-1] == f"bytes={kept}-"
    assert (dest / "GlassBench.zip").read_bytes() == glassbench_zip
    assert not part.exists()
    assert any((dest / "KA_models" / "T0.44" / "test").glob("*.npz"))


def test_checksum_mismatch_is_never_used(server, tmp_path) -> None:
    dest = tmp_path / "glassbench"
    opts = _opts(server, dest, registry={"GlassBench.zip": "sha256:" + "0" * 64})
    with pytest.raises(DownloadError, match="checksum mismatch for GlassBench.zip"):
        download(**opts)
    assert (dest / "GlassBench.zip.corrupt").is_file()
    assert not (dest / "GlassBench.zip").exists()
    assert not (dest / "GlassBench.zip.part").exists()
    assert not (dest / "KA_models").exists()


def test_truncated_archive_is_kept_for_resume(server, glassbench_zip, tmp_path) -> None:
    """A server that ends the file early (no size, no hash known): the archive fails to
    open, is renamed back to .part, and the next run resumes it instead of trusting it."""
    dest = tmp_path / "glassbench"
    k = len(glassbench_zip) * 2 // 3
    server.files["/GlassBench.zip"] = glassbench_zip[:k]
    with pytest.raises(DownloadError, match="corrupt or truncated"):
        download(**_opts(server, dest))
    assert (dest / "GlassBench.zip.part").stat().st_size == k
    assert not (dest / "GlassBench.zip").exists()
    server.files["/GlassBench.zip"] = glassbench_zip
    download(**_opts(server, dest))
    assert server.gets("/GlassBench.zip")[-1] == f"bytes={k}-"
    assert any((dest / "KA_models" / "T0.44" / "train").glob("*.npz"))


def test_optional_2d_trajectories(server, tmp_path) -> None:
    parts = {"trajectories_2d": {"enabled": False, "members": ["KA2D_trajectories/*"]}}
    dest = tmp_path / "glassbench"
    man = download(**_opts(server, dest, optional_parts=parts))
    assert man["optional_parts"] == {"trajectories_2d": False}
    assert not (dest / "KA2D_trajectories").exists()
    assert any((dest / "KA2D_models" / "T0.30" / "train").glob("*.npz"))
    assert (dest / "KA_results" / "times_T0.44.dat").is_file()
    parts["trajectories_2d"]["enabled"] = True
    download(**_opts(server, dest, optional_parts=parts))  # same zip, now with the part
    assert (dest / "KA2D_trajectories" / "T0.30.tar.xz").is_file()


def test_glassbench_download_config() -> None:
    cfg = compose_config("data", ["download=glassbench"])
    d = cfg.download
    assert d.files[0].size == 6_042_260_027 and d.files[0].name == "GlassBench.zip"
    url = expand_files(d.files, d.base_url, d.url_suffix)[0].url
    assert url == "https://zenodo.org/records/10118191/files/GlassBench.zip?download=1"
    assert d.optional_parts.trajectories_2d.enabled is False


def test_layout_mismatch_and_required_hash(server, tmp_path) -> None:
    with pytest.raises(DownloadError, match="download.expect"):
        download(**_opts(server, tmp_path / "a", expect=["KA_models/T*/val/*.npz"]))
    n = len(server.requests)
    with pytest.raises(DownloadError, match="require_hash"):
        download(**_opts(server, tmp_path / "b", require_hash=True))
    assert len(server.requests) == n


def test_cli_download_then_train(server, tmp_path) -> None:
    """`glassml-data download glassbench` into data/, then the GlassBench experiment trains."""
    data_dir = tmp_path / "data"
    res = run_module(
        "glassml.cli.data",
        "download",
        "glassbench",
        f"download.base_url={server.url}",
        "download.files=[{name:GlassBench.zip,extract:true}]",  # the test zip is small
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={tmp_path / 'run'}",
        "progress=false",
        env={"HYDRA_FULL_ERROR": "1"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "UNVERIFIED GlassBench.zip" in res.stdout + res.stderr
    manifest = data_dir / "glassbench" / ".glassml-download-glassbench.json"
    assert '"verified": false' in manifest.read_text()

    from glassml.training.train import train

    cfg = compose_config(
        "train",
        [
            "experiment=glassbench/ka3d_T044",
            f"paths.data_dir={data_dir}",
            *QUICK_TRAIN,
            "trainer.fast_dev_run=true",
        ],
        tmp_path / "train",
    )
    assert cfg.dataset.root.endswith("glassbench/KA_models/T0.44")
    train(cfg)
    assert (tmp_path / "train" / "test_metrics.json").is_file()
    assert not (data_dir / "glassbench" / "KA2D_trajectories").exists()  # optional, off
