"""benchmarks.hostile_memory --quick: peak RSS of extract and predict per input, hostile
beside normal, and `har serve`'s RSS under a fuzz of bad uploads (figures printed for the
README, never asserted; the server's answers are: no 5xx, every answer JSON)."""

from __future__ import annotations

import json

from commands import run_benchmark


def test_quick_run_reports_every_input_and_the_refusals(tmp_path):
    out = tmp_path / "hostile.json"
    done = run_benchmark("hostile_memory", "--quick", "--json", out)
    result = json.loads(out.read_text())
    assert result["benchmark"] == "hostile_memory" and result["quick"] is True
    rows = {r["input"]: r for r in result["rows"]}
    assert list(rows) == ["normal", "thin", "huge", "worst_ok"]
    for name, row in rows.items():
        assert row["extract"]["peak_rss_mb"] > 20 and row["predict"]["peak_rss_mb"] > 20
        assert not row["predict"]["traceback"], row
        refused = name in ("thin", "huge")
        assert row["extract"]["status"] == ("failed" if refused else "ok"), row
        assert row["predict"]["exit"] == (2 if refused else 0), row
    assert "aspect ratio" in rows["thin"]["extract"]["error"]
    assert "pixel budget" in rows["huge"]["predict"]["message"]
    assert "| worst_ok |" in done.stdout  # the table

    server = result["server"]
    kinds = server["kinds"]
    assert server["requests"] == sum(k["sent"] for k in kinds.values()) >= 30
    assert {"thin.mp4", "huge.mp4", "worst_ok.mp4", "cut_clip.avi", "garbage.mp4", "empty.avi",
            "clip.txt", "oversize.mp4"} <= set(kinds)
    assert server["server_5xx"] == server["no_answer"] == server["not_json"] == 0, server["problems"]
    assert server["failures"] == 0 and server["problems"] == [] and server["server_alive"]
    for status in (s for k in kinds.values() for s in k["statuses"]):
        assert status == "200" or 400 <= int(status) < 500
    assert kinds["oversize.mp4"]["statuses"] == {"413": kinds["oversize.mp4"]["sent"]}
    assert kinds["empty.avi"]["statuses"] == {"422": kinds["empty.avi"]["sent"]}
    assert "empty.avi" in kinds["empty.avi"]["error"]  # the answer names the upload
    assert kinds["clip.txt"]["statuses"] == {"200": kinds["clip.txt"]["sent"]}  # decoded, not named
    rss = server["rss_mb"]
    assert set(rss) >= {"loaded", "after_valid", "after_fuzz", "peak"}
    assert all(isinstance(v, float) and v > 20 for v in rss.values()), rss
    assert rss["peak"] >= max(v for k, v in rss.items() if k != "peak")  # VmHWM: the high-water mark
    assert "har serve" in done.stdout and "after the fuzz" in done.stdout and "failures" in done.stdout
