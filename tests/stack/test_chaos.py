"""`make chaos`, small: files and change events under injected faults, then a redrive; nothing lost.

The whole run is `pipeline chaos` (300 files, 300 events); this one sends 8 files and 16 events with more
faults than its default, on the project's template with one thumbnail width.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from embedded_aws.faults import Faults
from embedded_aws.stack import DeployedStack, EmbeddedAws
from pipeline.cli import chaos
from pipeline.cli.uploads import Stack
from tests.conftest import ROOT, update_function

pytestmark = pytest.mark.stack

STACK = "chaos"
#: The queues whose consumers crash in the test, with their consumer. Here a consumer times out after 5 s
#: (the template's: 10 s), so a crash costs its remaining time plus a redelivery delay of 1, 2, 4 s... (the
#: template's: 8, 16, 32 s...), or 10 s before it hid its messages (the template's visibility timeout: 60 s):
#: the same retries, on a test's time scale.
CONSUMERS = {
    "UploadsQueue": "StartWorkflowFunction",
    "ChangesQueue": "StartChangeWorkflowFunction",
    "AuditQueue": "ArchiveFunction",
    "NotifyQueue": "NotifyFunction",
}
VISIBILITY_S = 10
REDELIVERY_BASE_S = 1
CONSUMER_TIMEOUT_S = 5


@pytest.fixture(scope="module")
def deployed(aws: EmbeddedAws) -> Iterator[DeployedStack]:
    stack = aws.deploy(ROOT / "template.yaml", STACK, {"ThumbnailWidths": "64"})
    for queue, function in CONSUMERS.items():
        aws.client("sqs").set_queue_attributes(
            QueueUrl=stack.physical_id(queue), Attributes={"VisibilityTimeout": str(VISIBILITY_S)}
        )
        quick = {"REDELIVERY_BASE_SECONDS": str(REDELIVERY_BASE_S)}
        update_function(aws, stack, function, quick, timeout_s=CONSUMER_TIMEOUT_S)
    yield stack
    aws.delete(STACK)


def test_under_faults_nothing_is_lost_or_duplicated_and_what_was_parked_is_recovered(
    aws: EmbeddedAws, deployed: DeployedStack
) -> None:
    # Given files (some bad, some new versions) and shuffled change events (some twice, some invalid)
    files, events = chaos.plan_files(8, seed=1), chaos.plan_changes(16, seed=1)
    assert {f.expected for f in files} > {"published"} and len({f.name for f in files}) < len(files)
    assert {e.kind for e in events} == {"valid", "duplicate", "invalid"}
    faults = Faults.parse("crash=0.15,throttle=0.1,aws-errors=0.05,duplicate=0.1,seed=11")
    stack = Stack(deployed.outputs, aws.endpoint_url, aws.region)

    # When they are sent under faults, the stack settles, and every failure queue is redriven
    report = chaos.run(aws, stack, STACK, files, events, faults, timeout_s=120)

    # Then every kind of fault hit, and yet nothing was lost, duplicated or left parked
    print(report.to_json())  # shown when the test fails
    assert all(report.injected[kind] > 0 for kind in ("crash", "throttle", "duplicate")), report.injected
    assert (report.lost, report.wrong, report.duplicated, report.still_parked) == ([], [], [], {})
    assert report.ok and report.recovered == sum(report.parked.values())
    # And every good file is published, every bad one quarantined with its reason
    assert report.published == sum(f.expected == "published" for f in files)
    assert report.quarantined == sum(f.expected != "published" for f in files)
    assert report.redrive_failures == []
    assert aws.faults is None  # the run turned its faults off
