"""The catalog of the book's studies: what ``python -m nnip.book --train`` trains and ``--missing`` lists."""

import pandas as pd
import pytest

from nnip import book
from nnip.paper import catalog
from nnip.sweep import expand


def test_every_study_expands_at_every_preset_and_names_are_checked():
    for preset in ("tiny", "cpu"):
        pairs = catalog.specs(preset)
        assert {name for name, _ in pairs} == set(catalog.STUDIES)
        assert all(expand(spec, preset) for _, spec in pairs)
    with pytest.raises(ValueError, match="unknown studies \\['fig99'\\]"):
        catalog.specs("tiny", ["fig99"])


def test_missing_runs_of_an_empty_store_are_every_distinct_run(tmp_path):
    todo = catalog.missing_runs("tiny", tmp_path, ["main", "fig15-translation"])
    ids = catalog.run_ids("tiny", ["main", "fig15-translation"])  # expand; missing_runs goes through sweep.missing
    assert set(todo["run_id"]) == ids and todo["run_id"].is_unique
    assert ids < catalog.run_ids("tiny")
    assert set(todo["study"]) == {"main", "fig15-translation"}


def test_book_missing_lists_runs_and_fails(tmp_path, capsys):
    assert book.main(["--preset", "tiny", "--store", str(tmp_path), "--missing"]) == 1
    out = capsys.readouterr().out
    assert "run_id" in out and "main" in out


def test_cpu_hours_counts_measured_hours_per_study_and_distinct_runs(tmp_path):
    from nnip.paper._common import store_path
    from nnip.runs import RunStore

    rs = RunStore(store_path(tmp_path, "tiny"))
    main_ids = [c.run_id() for _, s in catalog.specs("tiny", ["main"]) for c in expand(s, "tiny")]
    for k, run_id in enumerate(main_ids):
        rs.write_summary(run_id, {"status": "done", "hours": 0.5 + k, "hours_train": 0.25})
    table = catalog.cpu_hours("tiny", tmp_path, ["main", "fig15-translation"]).set_index("study")
    assert table.loc["main", "finished"] == table.loc["main", "runs"] == len(main_ids)
    assert table.loc["main", "cpu_hours"] == pytest.approx(sum(0.5 + k for k in range(len(main_ids))))
    # fig15 shares no run with main (its MPNNs see absolute positions) and has none finished
    assert table.loc["fig15-translation", "finished"] == 0 and table.loc["fig15-translation", "cpu_hours"] == 0
    assert table.loc["all (distinct runs)", "cpu_hours"] == table.loc["main", "cpu_hours"]


def test_cpu_hours_counts_superseded_runs_that_no_study_reads(tmp_path):
    """Runs the pilots rejected were paid for: with every study, they get their own row and join the total."""
    from nnip.paper._common import store_path
    from nnip.runs import RunStore

    rs = RunStore(store_path(tmp_path, "tiny"))
    main_id = next(c.run_id() for _, s in catalog.specs("tiny", ["main"]) for c in expand(s, "tiny"))
    rs.write_summary(main_id, {"status": "done", "hours": 1.0, "hours_train": 0.5})
    rs.write_summary("0123456789ab", {"status": "done", "hours": 2.0, "hours_train": 1.5})  # an old design
    rs.write_summary("ba9876543210", {"status": "running", "hours": 9.0})  # unfinished: not counted
    full = catalog.cpu_hours("tiny", tmp_path).set_index("study")
    assert full.loc[catalog.SUPERSEDED, "runs"] == 1 and full.loc[catalog.SUPERSEDED, "cpu_hours"] == 2.0
    assert full.loc["all (distinct runs)", "cpu_hours"] == pytest.approx(3.0)
    some = catalog.cpu_hours("tiny", tmp_path, ["main"]).set_index("study")
    assert catalog.SUPERSEDED not in some.index and some.loc["all (distinct runs)", "cpu_hours"] == 1.0


def test_cpu_hours_counts_studies_in_production_under_their_own_row(tmp_path, symmetrization_in_production):
    """Runs of a study still being trained are paid for but read by no page yet: their own row, not 'superseded',
    and none of them is listed as missing from the book."""
    from nnip.paper._common import store_path
    from nnip.runs import RunStore

    rs = RunStore(store_path(tmp_path, "tiny"))
    name, fn = next(iter(catalog.IN_PRODUCTION.items()))
    ids = [c.run_id() for s in fn("tiny") for c in expand(s, "tiny")]
    rs.write_summary(ids[0], {"status": "done", "hours": 0.75, "hours_train": 0.5})
    full = catalog.cpu_hours("tiny", tmp_path).set_index("study")
    assert full.loc[name, "finished"] == 1 and full.loc[name, "runs"] == len(set(ids))
    assert full.loc[name, "cpu_hours"] == 0.75 and catalog.SUPERSEDED not in full.index
    assert full.loc["all (distinct runs)", "cpu_hours"] == pytest.approx(0.75)
    assert not set(ids) & set(catalog.missing_runs("tiny", tmp_path)["run_id"])


def test_fig_cost_draws_one_bar_pair_per_study_and_the_budget():
    table = pd.DataFrame({"study": ["a", "b", "all (distinct runs)"], "runs": [2, 3, 4], "finished": [2, 1, 3],
                          "cpu_hours": [1.0, 0.5, 1.5], "train_hours": [0.8, 0.4, 1.2]})
    fig = catalog.fig_cost(table, budget=12.0)
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * len(table)  # run hours and training hours per study
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "a (2/2)"  # first study on top
    assert any(line.get_xdata()[0] == 12.0 for line in ax.get_lines())
    assert "[h]" in ax.get_xlabel()


def test_studies_take_a_preset_or_its_name():
    from nnip.presets import get

    by_name = [(n, [c.run_id() for c in expand(s, "tiny")]) for n, s in catalog.specs("tiny")]
    typed = get("tiny")
    assert [(n, [c.run_id() for c in expand(s, typed)]) for n, s in catalog.specs(typed)] == by_name


def test_a_study_read_from_the_store_names_its_missing_runs(tmp_path):
    """``train_missing=False`` (the book from the committed store): one error that names the missing runs (id, model,
    hyper-parameters) and trains nothing."""
    from nnip.paper._common import MISSING_NAMED, run_study

    spec = dict(catalog.specs("tiny", ["main"])[0][1])
    ids = [c.run_id() for c in expand(spec, "tiny")]
    with pytest.raises(RuntimeError) as err:
        run_study(spec, "tiny", tmp_path, train_missing=False)
    msg = str(err.value)
    assert msg.startswith(f"{len(ids)} run(s) of study ")
    named = [r for r in ids if r in msg]
    assert len(named) == min(len(ids), MISSING_NAMED)
    if len(ids) > MISSING_NAMED:
        assert f"and {len(ids) - MISSING_NAMED} more" in msg
    assert not any((tmp_path / "tiny" / "runs").glob("*/summary.json"))


def _finished_store(tmp_path, spec):
    """A store in which every run of ``spec`` at ``tiny`` is finished with a one-row curve."""
    from nnip.paper._common import store_path
    from nnip.runs import CURVE_COLUMNS, RunStore

    rs = RunStore(store_path(tmp_path, "tiny"))
    ids = [c.run_id() for c in expand(spec, "tiny")]
    for run_id in ids:
        rs.write_summary(run_id, {"status": "done", "arch": "mpnn", "params": 10})
        rs.start_curve(run_id, list(CURVE_COLUMNS))
        rs.append_curve(run_id, {c: 1.0 for c in CURVE_COLUMNS}, list(CURVE_COLUMNS))
    return ids


def test_run_study_logs_every_run_it_reads(tmp_path, monkeypatch):
    """With ``NNIP_RUN_LOG`` set, each study a page reads appends ``study<TAB>run id`` per run (the book's check)."""
    from nnip.paper._common import run_study
    from nnip.runs import RUN_LOG

    spec = dict(catalog.specs("tiny", ["main"])[0][1])
    ids = _finished_store(tmp_path, spec)
    log = tmp_path / "reads.tsv"
    run_study(spec, "tiny", tmp_path, train_missing=False)  # unset: nothing is written
    assert not log.exists()
    monkeypatch.setenv(RUN_LOG, str(log))
    run_study(spec, "tiny", tmp_path, train_missing=False)
    run_study(spec, "tiny", tmp_path, train_missing=False)  # appended, not overwritten
    lines = log.read_text().splitlines()
    assert lines == [f"{spec['name']}\t{r}" for r in ids] * 2


def test_run_study_finished_only_reads_the_finished_runs_and_names_the_missing(tmp_path, monkeypatch):
    """A study still being trained (catalog.IN_PRODUCTION), read from the store: the finished runs' curves, the
    missing runs in ``attrs["missing"]``, only the runs read in the log; with no finished run an empty frame. Without
    ``finished_only`` a missing run is still an error."""
    from nnip.paper._common import run_study
    from nnip.runs import RUN_LOG, RunStore

    spec = dict(catalog.specs("tiny", ["main"])[0][1])
    ids = [c.run_id() for c in expand(spec, "tiny")]
    log = tmp_path / "reads.tsv"
    monkeypatch.setenv(RUN_LOG, str(log))
    empty = run_study(spec, "tiny", tmp_path, train_missing=False, finished_only=True)
    assert not len(empty) and empty.attrs["missing"] == ids and empty.attrs["left_out"] == {}
    assert not log.exists() or not log.read_text()  # nothing read: nothing logged
    rs = RunStore(tmp_path)
    assert not any(rs.read_summary(r) for r in ids)  # and nothing trained

    done = _finished_store(tmp_path, spec)[: len(ids) // 2]
    rs.write_summary(ids[len(done)], {"status": "running", "arch": "mpnn", "params": 10})  # being trained now
    for run_id in ids[len(done) + 1:]:  # the others: not started
        (rs.run_dir(run_id) / "summary.json").unlink()
    partial = run_study(spec, "tiny", tmp_path, train_missing=False, finished_only=True)
    assert set(partial["run_id"]) == set(done) and partial.attrs["missing"] == ids[len(done):]
    assert log.read_text().splitlines() == [f"{spec['name']}\t{r}" for r in done]
    with pytest.raises(RuntimeError, match=rf"{len(ids) - len(done)} run\(s\) of study .* are missing"):
        run_study(spec, "tiny", tmp_path, train_missing=False)  # the default is strict

    _finished_store(tmp_path, spec)
    full = run_study(spec, "tiny", tmp_path, train_missing=False, finished_only=True)
    assert set(full["run_id"]) == set(ids) and full.attrs["missing"] == []
    assert run_study(spec, "tiny", tmp_path, train_missing=False).attrs["missing"] == []


def test_check_reads_accepts_reads_of_studies_in_production(tmp_path, symmetrization_in_production):
    """A chapter in production reads its finished runs only: reading some of them is fine, reading none is fine, and
    a run no study lists is still an error."""
    listed = sorted(catalog.run_ids("tiny"))
    production = sorted(catalog.in_production_run_ids("tiny") - set(listed))
    assert production
    log = tmp_path / "reads.tsv"
    log.write_text("".join(f"some-study\t{r}\n" for r in listed + production[:2]))
    assert catalog.check_reads("tiny", log) == len(listed) + 2
    log.write_text("".join(f"some-study\t{r}\n" for r in listed + production[:2] + ["0123456789ab"]))
    with pytest.raises(RuntimeError, match=r"1 run\(s\) read by a page but listed by no study.*0123456789ab"):
        catalog.check_reads("tiny", log)
    log.write_text("".join(f"some-study\t{r}\n" for r in listed[1:] + production))
    with pytest.raises(RuntimeError, match=rf"1 run\(s\) of the catalog read by no page: {listed[0]}"):
        catalog.check_reads("tiny", log)  # the rule for the studies of the book stays


def test_check_reads_wants_the_pages_to_read_exactly_the_catalogs_runs(tmp_path):
    """The materials page once read data fractions the catalog did not list: the page trained them, ``--missing``
    never saw them. A whole book build now fails naming such runs, and catalog runs that no page reads."""
    listed = sorted(catalog.run_ids("tiny"))
    log = tmp_path / "reads.tsv"
    log.write_text("".join(f"some-study\t{r}\n" for r in listed + listed[:3]))  # a run read twice is fine
    assert catalog.check_reads("tiny", log) == len(listed)

    log.write_text("".join(f"some-study\t{r}\n" for r in listed + ["0123456789ab"]))
    with pytest.raises(RuntimeError, match=r"1 run\(s\) read by a page but listed by no study.*0123456789ab"
                                           r".*'some-study'"):
        catalog.check_reads("tiny", log)

    log.write_text("".join(f"some-study\t{r}\n" for r in listed[1:]))
    with pytest.raises(RuntimeError, match=rf"1 run\(s\) of the catalog read by no page: {listed[0]}"):
        catalog.check_reads("tiny", log)
    with pytest.raises(RuntimeError, match=r"read by no page"):  # no log at all: nothing was read
        catalog.check_reads("tiny", tmp_path / "absent.tsv")


def test_cpu_hours_counts_a_run_listed_twice_by_one_study_once(tmp_path):
    """Materials lists its largest model at fraction 1 in both sweeps (parameters and data): one run, paid once."""
    from nnip.paper._common import store_path
    from nnip.runs import RunStore

    listed = [c.run_id() for _, s in catalog.specs("tiny", ["materials"]) for c in expand(s, "tiny")]
    distinct = sorted(set(listed))
    assert len(distinct) < len(listed)
    rs = RunStore(store_path(tmp_path, "tiny"))
    for run_id in distinct:
        rs.write_summary(run_id, {"status": "done", "hours": 1.0, "hours_train": 0.5})
    row = catalog.cpu_hours("tiny", tmp_path, ["materials"]).set_index("study").loc["materials"]
    assert row["runs"] == row["finished"] == len(distinct)
    assert row["cpu_hours"] == pytest.approx(len(distinct)) and row["train_hours"] == pytest.approx(len(distinct) / 2)


def test_a_left_out_warning_names_the_callers_file_relative_to_the_project(tmp_path):
    """The book's pages print warnings: the file in one must not be a machine path (it named /…/tuning.py)."""
    import warnings

    from nnip.paper._common import warn_relative

    def caller():
        warn_relative("study 'x': left 1 run(s) out", stacklevel=2)

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        caller()
    (w,) = got
    assert w.filename == "tests/paper/test_catalog.py" and str(w.message) == "study 'x': left 1 run(s) out"
    assert w.lineno == caller.__code__.co_firstlineno + 5  # the line that called caller(), one frame up
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module=__name__)  # module filters still apply
        with pytest.raises(UserWarning):
            caller()
