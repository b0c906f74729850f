"""The plan of `pipeline chaos`: repeatable from its seed, and the model the public records must equal."""

from __future__ import annotations

from pipeline.cli import chaos


def test_the_plan_is_the_same_for_the_same_seed_and_its_model_is_the_highest_sequence() -> None:
    # Given two plans from one seed and one from another
    first, again, other = (
        chaos.plan_changes(40, seed=5),
        chaos.plan_changes(40, seed=5),
        chaos.plan_changes(40, seed=6),
    )

    # Then the same seed gives the same events in the same order, another seed others
    assert [e.text for e in first] == [e.text for e in again] != [e.text for e in other]
    # And the model holds, per record, its valid event with the highest sequence
    model = chaos.model(first)
    valid = [e.event for e in first if isinstance(e.event, dict)]
    assert set(model) == {e["id"] for e in valid}
    for record, event in model.items():
        assert event["sequence"] == max(e["sequence"] for e in valid if e["id"] == record)


def test_the_files_mix_good_bad_and_new_versions_and_bad_ones_name_their_reason() -> None:
    # Given a plan of 60 files
    files = chaos.plan_files(60, seed=1)

    # Then about a sixth are bad, each expecting its refusal reason, and some names come twice
    bad = [f for f in files if f.expected != "published"]
    assert 5 <= len(bad) <= 20
    assert {f.expected for f in bad} <= {"unsupported_type", "corrupt_image", "empty_file", "polyglot"}
    again = [f.name for f in files if [g.name for g in files].count(f.name) > 1]
    assert again and all(f.expected == "published" for f in files if f.name in again)
