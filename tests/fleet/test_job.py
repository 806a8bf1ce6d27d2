import pytest

from pycoreos.fleet.errors import ValidationError
from pycoreos.fleet.job import JobState, Unit, parse_job_state, requirements, validate_unit

from .helpers import ufile


def test_requirements_all_forms_and_specifiers():
    uf = ufile(
        "MachineOf=%p-db.service\nX-ConditionMachineOf=other.service\n"
        "Conflicts=web@*.service  cache*\nX-Conflicts=old.service\n"
        'MachineMetadata="region=us" "region=eu"\nX-ConditionMachineMetadata=disk=ssd\n'
        "MachineMetadata=bad\nMachineMetadata=a=b=c\nReplaces=legacy@%i.service\n"
    )
    r = requirements("web@1.service", uf)
    assert r.peers == ("other.service", "web-db.service")
    assert r.conflicts == ("old.service", "web@*.service", "cache*")
    assert dict(r.metadata) == {"region": frozenset({"us", "eu"}), "disk": frozenset({"ssd"})}
    assert r.replaces == ("legacy@1.service",)
    assert not r.global_


def test_machine_id_precedence_and_global_last_wins():
    uf = ufile("X-ConditionMachineBootID=boot\nX-ConditionMachineID=old\nMachineID=new")
    assert requirements("a.service", uf).machine_id == "new"
    assert requirements("a.service", ufile("X-ConditionMachineBootID=boot")).machine_id == "boot"
    assert requirements("a.service", ufile("Global=true\nGlobal=no")).global_ is False
    assert requirements("a.service", ufile("Global=false\nGlobal=T")).global_ is True


@pytest.mark.parametrize(
    ("xfleet", "msg"),
    [
        ("Foo=bar", 'unrecognized requirement in [X-Fleet] section: "Foo"'),
        ("MachineOf=db.service\nConflicts=db*", 'unresolvable requirements: peer "db.service" matches conflict "db*"'),
        ("MachineOf=db.service\nReplaces=db.service", 'unresolvable requirements: peer "db.service" matches replace "db.service"'),
        ("MachineID=abc\nMachineOf=x.service", "MachineID cannot be used with Peers"),
        ("MachineID=abc\nConflicts=x*", "MachineID cannot be used with Conflicts"),
        ("MachineID=abc\nGlobal=true", "MachineID cannot be used with Global"),
        ("Global=true\nMachineOf=x.service", "Global cannot be used with Peers"),
        ("Global=true\nConflicts=x*", "Global cannot be used with Conflicts"),
        ("Global=true\nReplaces=x*", "Global cannot be used with Replaces"),
        ("Conflicts=x*\nReplaces=y*", "Conflicts cannot be used with Replaces"),
    ],
)  # fmt: skip
def test_validation_messages(xfleet, msg):
    with pytest.raises(ValidationError) as ei:
        validate_unit("a.service", ufile(xfleet))
    assert str(ei.value) == msg


def test_valid_combinations_pass():
    validate_unit("a.service", ufile("Global=true\nMachineMetadata=role=web"))
    validate_unit("a.service", ufile("MachineOf=b.service\nMachineMetadata=x=y"))
    validate_unit("a.service", ufile("Global=false\nConflicts=b*"))


def test_job_state_parse():
    assert parse_job_state("launched") is JobState.LAUNCHED
    with pytest.raises(ValidationError, match='invalid value "running" for JobState'):
        parse_job_state("running")
    assert JobState.LOADED.rank == 1


def test_unit_properties():
    u = Unit.new("g.service", ufile("Global=yes"), JobState.LAUNCHED)
    assert u.is_global
    assert not u.scheduled
