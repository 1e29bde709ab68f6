"""What a simulated 2030.5 device reads of its programs (`simulator.py`): its FunctionSetAssignments
and program lists, with each program's DefaultDERControl, every ASSIGNMENTS_EVERY polls (they
change seldom); its control lists every poll; and the DERCurves its modes link, kept until the
assignments are read again (a set point's curve never changes; a default mode's may, when an admin
changes it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from apps.der_registry.engine.sep2.client import Sep2ClientError, Sep2Connection
from apps.der_registry.engine.sep2.following import Curve, ProgramControls, curve_of
from apps.der_registry.engine.sep2.xmlcodec import q

ASSIGNMENTS_EVERY = 5  # polls between reads of a device's FunctionSetAssignments and program lists


@dataclass(frozen=True)
class Assigned:
    primacy: int
    controls: str  # its DERControlList's href
    default: ET.Element | None = None  # its DefaultDERControl, if it links one


@dataclass
class Programs:
    """A device's programs as last read, and the curves its modes linked since."""

    assigned: list[Assigned] = field(default_factory=list)
    curves: dict[str, Curve | None] = field(default_factory=dict)
    polls: int = 0


def href(doc: ET.Element, tag: str) -> str:
    node = doc.find(q(tag))
    if node is None:
        raise Sep2ClientError(f"{doc.tag} has no {tag}")
    return node.attrib["href"]


async def assigned(conn: Sep2Connection, edev: str) -> list[Assigned]:
    """The device's programs by its FunctionSetAssignments: its own and its groups'."""
    fsas = (await conn.get(f"{edev}/fsa?l=255")).doc().findall(q("FunctionSetAssignments"))
    if not fsas:
        raise Sep2ClientError(f"{edev} has no FunctionSetAssignments")
    out = []
    for fsa in fsas:
        programs = (await conn.get(f"{href(fsa, 'DERProgramListLink')}?l=255")).doc()
        for program in programs.findall(q("DERProgram")):
            link = program.find(q("DefaultDERControlLink"))
            default = None if link is None else (await conn.get(link.attrib["href"])).doc()
            primacy = int(program.findtext(q("primacy")) or 255)
            out.append(Assigned(primacy, href(program, "DERControlListLink"), default))
    return out


async def programs(conn: Sep2Connection, edev: str, known: Programs) -> list[ProgramControls]:
    """Every program's controls (and default): the assignments every ASSIGNMENTS_EVERY polls, and
    again at once when a program is gone; the controls, every poll."""
    if not known.assigned or known.polls % ASSIGNMENTS_EVERY == 0:
        known.assigned = await assigned(conn, edev)
        known.curves.clear()
    known.polls += 1
    out = []
    for program in known.assigned:
        answer = await conn.get(f"{program.controls}?l=255")
        if answer.status == 404:  # no longer a member: read the assignments again next poll
            known.assigned = []
            continue
        controls = tuple(answer.doc().findall(q("DERControl")))
        out.append(ProgramControls(program.primacy, controls, program.default))
    return out


async def curve(conn: Sep2Connection, known: Programs, link: str) -> Curve | None:
    """The DERCurve at `link`, read once per assignments read."""
    if link not in known.curves:
        answer = await conn.get(link)
        known.curves[link] = curve_of(answer.doc()) if answer.status == 200 else None
    return known.curves[link]
