"""Big files stream in bounded memory: a ~50 MB CSV in batches, and a GBK file transcoded chunk by chunk.

Memory is measured in a fresh subprocess (anonymous resident memory, sampled every few ms), because Polars allocates
outside Python's tracemalloc; only the Python-side transcoding is measured with tracemalloc.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assay.sources._files import FileSource, transcode_to_utf8

pytestmark = pytest.mark.slow

MEASURE = """
import sys, threading, time
import polars as pl
from assay.sources._files import FileSource

def anon_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no RssAnon in /proc/self/status")

mode, path, tiny = sys.argv[1], sys.argv[2], sys.argv[3]
FileSource(tiny).read()
list(FileSource(tiny).batches(1))  # start Polars' thread pool before the baseline
base = peak = anon_mb()
done = False

def watch():
    global peak
    while not done:
        peak = max(peak, anon_mb())
        time.sleep(0.002)

watcher = threading.Thread(target=watch)
watcher.start()
if mode == "batches":
    rows = 0
    for batch in FileSource(path).batches(50_000):
        assert batch.height <= 50_000
        rows += batch.height
else:
    rows = FileSource(path).read().height
done = True
watcher.join()
print(rows, peak - base)
"""


def _growth(mode: str, path: Path) -> tuple[int, float]:
    tiny = path.with_name("tiny.csv")
    tiny.write_text("a,b\n1,x\n")
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, str(path), str(tiny)],
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    rows, growth = out.stdout.split()
    return int(rows), float(growth)


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    n = 1_000_000
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("big") / "big.csv"
    pl.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n),
            "城市": rng.choice(["北京", "上海", "广州", "深圳"], n),
            "note": ["a fairly ordinary note"] * n,
        }
    ).write_csv(path)
    return path


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc")
def test_big_csv_batches_use_a_fraction_of_a_full_read(big_csv: Path) -> None:
    size_mb = big_csv.stat().st_size / 2**20
    assert size_mb > 45
    rows_b, batches_mb = _growth("batches", big_csv)
    rows_r, read_mb = _growth("read", big_csv)
    assert rows_b == rows_r == 1_000_000
    assert read_mb > size_mb / 2, f"the measurement should see a full read ({read_mb:.0f} MB)"
    assert batches_mb < read_mb / 2, f"batches grew memory by {batches_mb:.0f} MB, a full read by {read_mb:.0f} MB"


def test_transcoding_holds_one_chunk_of_python_text(tmp_path: Path) -> None:
    block = "城市,销售额,备注\n" + "北京,123.45,华北区域的月度销售数据\n" * 20_000
    src = tmp_path / "big_gbk.csv"
    encoded = block.encode("gbk")
    with open(src, "wb") as fh:
        for _ in range(50):  # ~35 MB of GBK text
            fh.write(encoded)
    size = src.stat().st_size
    assert size > 30 * 2**20
    tracemalloc.start()
    try:
        transcode_to_utf8(src, tmp_path / "out.csv", "gbk")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 4, f"transcoding peaked at {peak / 2**20:.1f} MB of Python memory for {size / 2**20:.0f} MB"
    assert (tmp_path / "out.csv").stat().st_size > size  # the UTF-8 copy holds every character (3 bytes vs 2)


def test_big_gbk_csv_batches_end_to_end(tmp_path: Path) -> None:
    rows = 200_000
    src = tmp_path / "gbk.csv"
    with open(src, "wb") as fh:
        fh.write("城市,销售额\n".encode("gbk"))
        fh.write(("上海,42.5\n" * rows).encode("gbk"))
    source = FileSource(str(src))
    heights = [b.height for b in source.batches(64_000)]
    assert heights == [64_000, 64_000, 64_000, 8_000]
    assert next(source.batches(1)).to_dicts() == [{"城市": "上海", "销售额": 42.5}]
