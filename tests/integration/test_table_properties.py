"""Table properties stored with the table: set at create, shown by describe,
obeyed by the maintenance that runs after an import, refused when unknown or
malformed."""


def test_properties_are_stored_and_obeyed(dt):
    dt.run(["create", "t", "--schema", "id BIGINT, v STRING", "--primary-key", "id",
            "--option", "compaction.trigger-files=0", "--option", "retention.min-snapshots=3",
            "--option", "retention.max-snapshots=3", "--option", "retention.max-age=0s"])
    d = dt.describe("t")
    assert d["options"] == {"compaction.trigger-files": "0", "retention.max-age": "0s",
                            "retention.max-snapshots": "3", "retention.min-snapshots": "3"}
    assert d["compaction"]["trigger_files"] == 0
    assert d["retention"]["min_snapshots"] == 3 and d["retention"]["max_snapshots"] == 3
    for i in range(8):
        dt.import_rows("t", [{"id": 1, "v": str(i)}])  # maintenance runs after each import
    history = dt.history("t")
    # Retention keeps the 3 newest snapshots; no compaction ever ran.
    assert len(history) == 3
    assert all(h["kind"] == "APPEND" for h in history)
    assert dt.scan("t") == [{"id": 1, "v": "7"}]


def test_bad_properties_are_refused(dt):
    for option, message in [
        ("retention.min-snaps=3", "unknown table property 'retention.min-snaps' (known: "),
        ("retention.max-age=soon", "retention.max-age = 'soon': expected a duration"),
        ("compaction.trigger-files=-1", "expected an integer of at least 0"),
        ("novalue", "expected KEY=VALUE"),
    ]:
        proc = dt.run_fail(["create", "t", "--schema", "id BIGINT", "--primary-key", "id",
                            "--option", option], expect_status=1)
        assert message in proc.stderr, (option, proc.stderr)
    proc = dt.run_fail(["create", "t", "--schema", "id BIGINT", "--primary-key", "id",
                        "--option", "retention.min-snapshots=5", "--option",
                        "retention.max-snapshots=2"], expect_status=1)
    assert "retention.max-snapshots (2) is below retention.min-snapshots (5)" in proc.stderr
    assert not (dt.root / "t").exists()
