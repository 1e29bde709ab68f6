"""An OpenDSS feeder read as a hostile script: what an upload may read, and what no feeder may do."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.dms.engine.dss_import import read_network
from apps.dms.engine.dss_sanitize import sanitize_script
from apps.dms.engine.network import FeederImportError
from tests.conftest import FEEDERS

CIRCUIT = (
    "clear\nnew circuit.t basekv=12.47 bus1=src pu=1.0\n"
    "new line.a bus1=src bus2=b1 phases=3 r1=0.1 x1=0.3 r0=0.3 x0=0.9 length=1 units=km\n"
    "new load.l bus1=b1 kw=100 kv=12.47\nset voltagebases=[12.47]\ncalcv\n"
)


def upload(tmp_path: Path, master: str, **files: str) -> Path:
    """An unpacked upload: `master.dss` and other files in tmp_path/feeder/."""
    root = tmp_path / "feeder"
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "master.dss").write_text(master)
    return root


def refused(root: Path, match: str) -> None:
    with pytest.raises(FeederImportError, match=match):
        sanitize_script(root / "master.dss", upload_root=root)


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("redirect /etc/passwd", r"master\.dss, line 7: '/etc/passwd' is an absolute path"),
        ("red /etc/passwd", "is an absolute path"),  # OpenDSS's abbreviation of Redirect
        ("compile ../../../../etc/passwd", "points outside the upload"),
        (r"redirect ..\..\..\etc\passwd", "points outside the upload"),
        ("buscoords C:/feeders/coords.csv", "is an absolute path"),
        ("new loadshape.s npts=3 mult=(file=/etc/passwd)", "is an absolute path"),
        ("new loadshape.s npts=3 csvfile=../../secret", "points outside the upload"),
        ("new loadshape.s npts=3 mult=(profile=x)", "names a file in a way this import cannot check"),
        ("new loadshape.s npts=3 csv=x.csv", r"write the property 'csv…' out in full"),
    ],
)
def test_an_upload_reads_no_file_outside_itself(tmp_path: Path, line: str, match: str) -> None:
    refused(upload(tmp_path, CIRCUIT + line + "\n"), match)


@pytest.mark.parametrize("line", ["save circuit dir=/tmp/x", "cd /tmp", "doscmd rm -rf /"])
def test_no_feeder_may_write_circuit_files_change_folder_or_run_anything(tmp_path: Path, line: str) -> None:
    refused(upload(tmp_path, CIRCUIT + line + "\n"), "writes files, changes folder or runs a program")


def test_reports_after_the_solve_are_skipped_never_run(tmp_path: Path) -> None:
    """A feeder as its author ran it ends with reports (the IEEE 4-bus YYD master does): they are
    left out of what OpenDSS runs, so nothing is shown or written, and the feeder imports."""
    target = tmp_path / "written.csv"
    reports = (
        f"solve\nexport voltages {target}\nexp currents\nshow voltages\nplot circuit\nfileedit master.dss\n"
    )
    root = upload(tmp_path, CIRCUIT + reports)
    commands = [line.command.split()[0] for line in sanitize_script(root / "master.dss", upload_root=root)]
    assert commands[-1] == "solve" and not {"export", "show", "plot", "fileedit"} & set(commands)
    net = read_network(root / "master.dss", "reports", upload_root=root)
    assert {b.name for b in net.buses} == {"src", "b1"} and not target.exists()


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("set datapath=/tmp", "the set option 'datapath' is not accepted"),
        ("set log=yes", "the set option 'log' is not accepted"),
        ("set dem=true", "the set option 'dem' is not accepted"),  # DemandInterval writes files
        ("solve mode=yearly", "snapshot mode only"),
        ("new monitor.m element=line.a action=save", "writes a file"),
        ("edit loadshape.x action=dblsave", "writes a file"),
        ("new generator.g bus1=b1 kw=1 debugtrace=yes", "DebugTrace writes a trace file"),
        ("new generator.g bus1=b1 kw=1 usermodel=evil.so", "usermodel loads a program library"),
        ("new storage.s bus1=b1 DynaDLL=evil.so", "DynaDLL loads a program library"),
        ("new line.b bus1=@lastfile bus2=b2", r"script variables \(.bus1=@lastfile.\)"),
        ("var @x=1", "'var' is not accepted"),
        ("summary", "'summary' is not accepted"),
        ("x=redirect /etc/passwd", "is not an OpenDSS command"),
        ("new line.b bus1=(b1", "a quote or bracket is not closed"),
    ],
)
def test_it_refuses_what_does_not_define_a_circuit(tmp_path: Path, line: str, match: str) -> None:
    refused(upload(tmp_path, CIRCUIT + line + "\n"), match)


def test_it_names_the_file_and_line_of_a_refusal_in_a_redirected_file(tmp_path: Path) -> None:
    root = upload(tmp_path, CIRCUIT + "redirect parts/more.dss\n", **{})
    (root / "parts").mkdir()
    (root / "parts" / "more.dss").write_text("! more\nsave circuit\n")
    refused(root, r"^parts/more\.dss, line 2: 'save' writes")


def test_a_redirect_loop_is_refused(tmp_path: Path) -> None:
    refused(upload(tmp_path, CIRCUIT + "redirect master.dss\n"), "redirects back to itself")


def test_commands_go_to_opendss_written_out_with_checked_absolute_paths(tmp_path: Path) -> None:
    root = upload(
        tmp_path,
        CIRCUIT + "red shapes.dss  ! comment\nLoad.l.kw=50\n/* block\nexport voltages\n*/\n",
        **{"shapes.dss": "New LoadShape.s npts=3 interval=1 mult=(file=s.csv)\n", "s.csv": "1\n2\n3\n"},
    )
    commands = [line.command for line in sanitize_script(root / "master.dss", upload_root=root)]
    assert commands[-2:] == [
        f'new LoadShape.s npts=3 interval=1 mult=(file="{root / "s.csv"}")',
        "edit Load.l kw=50",
    ]


def test_a_loadshape_file_inside_the_upload_is_read(tmp_path: Path) -> None:
    root = upload(
        tmp_path,
        CIRCUIT.replace("kv=12.47\n", "kv=12.47 daily=s\n") + "set loadmult=1\n",
        **{"s.csv": "0.5\n1\n"},
    )
    (root / "master.dss").write_text(
        "new loadshape.s npts=2 interval=1 mult=(file=s.csv)\n" + (root / "master.dss").read_text()
    )
    net = read_network(root / "master.dss", "t", upload_root=root)
    assert [x.name for x in net.loads] == ["l"]


def test_a_trusted_local_file_may_name_any_path_but_still_writes_nothing(tmp_path: Path) -> None:
    master = tmp_path / "local.dss"
    master.write_text(f'redirect "{FEEDERS / "13Bus" / "IEEE13Nodeckt.dss"}"\n')
    assert len(read_network(master, "t").buses) == 16
    master.write_text(f'redirect "{FEEDERS / "13Bus" / "IEEE13Nodeckt.dss"}"\nexport voltages\n')
    assert len(read_network(master, "t").buses) == 16  # the report is skipped, not run
    assert not list(tmp_path.glob("*.csv")) and not list(tmp_path.glob("*/*.csv"))
    master.write_text(f'redirect "{FEEDERS / "13Bus" / "IEEE13Nodeckt.dss"}"\nsave circuit\n')
    with pytest.raises(FeederImportError, match="line 2: 'save' writes"):
        read_network(master, "t")


@pytest.mark.parametrize("master", ["13Bus/IEEE13Nodeckt.dss", "123Bus/IEEE123Master.dss"])
def test_the_ieee_feeders_pass_as_uploads_of_their_folder(master: str) -> None:
    lines = sanitize_script(FEEDERS / master, upload_root=FEEDERS)
    assert lines[0].command == "clear" and not any(x.command.startswith("redirect") for x in lines)
