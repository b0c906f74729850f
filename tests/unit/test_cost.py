"""`pipeline cost`: the cost model from a template's settings, a usage profile and list prices."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.cli import cost
from pipeline.cli.app import app
from pipeline.errors import PipelineError
from tests.conftest import ROOT

runner = CliRunner()

#: A small pipeline-shaped template: uploads topic → queue → starter → FileWorkflow, whose path calls the
#: thumbnails handler twice (once inside a Parallel), and a ChangeWorkflow started the same way.
TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  WorkflowType: {Type: String, Default: EXPRESS}
  ThumbnailWidths: {Type: String, Default: "100,200"}
  ThumbnailFormat: {Type: String, Default: jpeg}
Globals:
  Function:
    MemorySize: 1024
    Architectures: [arm64]
Resources:
  Uploads: {Type: AWS::SNS::Topic}
  Changes: {Type: AWS::SNS::Topic}
  UploadsQueue: {Type: AWS::SQS::Queue}
  ChangesQueue: {Type: AWS::SQS::Queue}
  UploadsSub:
    Type: AWS::SNS::Subscription
    Properties: {TopicArn: !Ref Uploads, Protocol: sqs, Endpoint: !GetAtt UploadsQueue.Arn}
  ChangesSub:
    Type: AWS::SNS::Subscription
    Properties: {TopicArn: !Ref Changes, Protocol: sqs, Endpoint: !GetAtt ChangesQueue.Arn}
  Starter:
    Type: AWS::Serverless::Function
    Properties:
      Handler: pipeline.handlers.start_workflow.handler
      Environment: {Variables: {ARN: !Ref FileWorkflow}}
      Events:
        Q: {Type: SQS, Properties: {Queue: !GetAtt UploadsQueue.Arn, BatchSize: 10}}
  ChangeStarter:
    Type: AWS::Serverless::Function
    Properties:
      Handler: pipeline.handlers.start_change_workflow.handler
      Environment: {Variables: {ARN: !Ref ChangeWorkflow}}
      Events:
        Q: {Type: SQS, Properties: {Queue: !GetAtt ChangesQueue.Arn, BatchSize: 10}}
  Work:
    Type: AWS::Serverless::Function
    Properties: {Handler: pipeline.handlers.thumbnails.handler, MemorySize: 2048}
  FileWorkflow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Type: !Ref WorkflowType
      DefinitionSubstitutions: {WorkArn: !GetAtt Work.Arn}
      Definition:
        StartAt: A
        States:
          A: {Type: Task, Resource: "arn:aws:states:::lambda:invoke",
              Parameters: {FunctionName: "${WorkArn}"}, Next: B}
          B:
            Type: Parallel
            Next: E
            Branches:
              - StartAt: C
                States:
                  C: {Type: Task, Resource: "arn:aws:states:::lambda:invoke",
                      Parameters: {FunctionName: "${WorkArn}"}, End: true}
              - StartAt: D
                States: {D: {Type: Pass, End: true}}
          E: {Type: Succeed}
  ChangeWorkflow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Type: !Ref WorkflowType
      Definition:
        StartAt: Done
        States: {Done: {Type: Succeed}}
"""


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return path


def _prices(**overrides: float) -> cost.Prices:
    """The real price list, with some prices replaced by round numbers (USD per unit)."""
    prices = cost.load_prices()
    items = dict(prices.items)
    for key, usd in overrides.items():
        items[key.replace("__", ".")] = cost.Price(usd, 1, "unit", "test")
    return replace(prices, items=items)


def _usd(result: cost.Estimate, item: str) -> float:
    return sum(i.usd for i in result.items if i.item == item)


def _quantity(result: cost.Estimate, item: str) -> float:
    return sum(i.quantity for i in result.items if i.item == item)


def test_the_template_gives_memory_widths_and_the_path_through_each_workflow(template: Path) -> None:
    # Given the small template, When its facts are read
    facts = cost.read_template(template)
    # Then functions take the Globals unless they set their own, and widths come from the parameters
    assert facts.functions["Work"].memory_mb == 2048
    assert facts.functions["Starter"].memory_mb == 1024
    assert facts.functions["Work"].architecture == "arm64"
    assert facts.thumbnail_widths == (100, 200)
    # And the file path enters A, B, C, D, E and calls Work twice
    path = facts.machines["FileWorkflow"].steps
    assert cost.transitions(path) == 5
    assert [t.target for t in cost.tasks(path) if t.kind == "lambda"] == ["Work", "Work"]
    assert facts.entry_topics("FileWorkflow") == ("Uploads",)


def test_line_items_are_what_the_profile_times_the_prices_make(template: Path) -> None:
    # Given 1,000 files, Work (thumbnails: 400 ms assumed, 2048 MB) called twice per file, and round prices
    facts = cost.read_template(template)
    prices = _prices(lambda__gb_second__arm64=1.0, sfn__express__gb_second=1.0, sfn__express__request=0.5)
    # When a month is costed as EXPRESS
    result = cost.estimate(facts, cost.Profile(files=1000), prices, workflow_type="EXPRESS")
    # Then Work's GB-seconds are 2 calls x 1,000 files x 0.4 s x 2 GB
    assert _quantity(result, "Work GB-s") == pytest.approx(1600)
    assert _usd(result, "Work GB-s") == pytest.approx(1600)
    # And each execution runs 20 ms per state + A (400) + B's longest branch (C: 20 + 400) = 880 ms,
    # billed as 900 ms of 64 MB
    assert _quantity(result, "FileWorkflow GB-s") == pytest.approx(1000 * 0.9 * 64 / 1024)
    assert _usd(result, "FileWorkflow requests") == pytest.approx(500)
    # And each of the two thumbnails calls PUTs one object per width (2), plus the upload itself
    assert _quantity(result, "PUT requests") == pytest.approx(1000 * (2 * 2 + 1))


def test_express_and_standard_differ_only_in_step_functions_as_the_prices_say(template: Path) -> None:
    # Given one profile and the real price list
    facts, prices = cost.read_template(template), cost.load_prices()
    profile = cost.Profile(files=100_000, changes=50_000)
    # When it is costed both ways
    express = cost.estimate(facts, profile, prices, workflow_type="EXPRESS")
    standard = cost.estimate(facts, profile, prices, workflow_type="STANDARD")
    # Then STANDARD pays per state entered: 5 per file, 1 per change
    transition = prices["sfn.standard.transition"].each
    assert standard.by_service()["Step Functions"] == [
        cost.LineItem(
            "Step Functions",
            "FileWorkflow transitions",
            500_000,
            "sfn.standard.transition",
            500_000 * transition,
        ),
        cost.LineItem(
            "Step Functions",
            "ChangeWorkflow transitions",
            50_000,
            "sfn.standard.transition",
            50_000 * transition,
        ),
    ]
    # And EXPRESS pays per request plus GB-seconds
    request = prices["sfn.express.request"].each
    assert _usd(express, "FileWorkflow requests") == pytest.approx(100_000 * request)
    assert _usd(express, "ChangeWorkflow requests") == pytest.approx(50_000 * request)
    # And nothing else differs
    others = [i for i in express.items if i.service != "Step Functions"]
    assert others == [i for i in standard.items if i.service != "Step Functions"]
    assert standard.total > express.total


def test_an_unknown_workflow_type_is_refused(template: Path) -> None:
    facts = cost.read_template(template)
    with pytest.raises(PipelineError, match="neither EXPRESS nor STANDARD"):
        cost.estimate(facts, cost.Profile(), cost.load_prices(), workflow_type="FAST")


def _lambda_states(states: dict[str, Any]) -> list[tuple[str, str]]:
    """(state, function) of every Lambda task of a definition, Parallel branches included, in file order."""
    found: list[tuple[str, str]] = []
    for name, state in states.items():
        for branch in state.get("Branches", []):
            found.extend(_lambda_states(branch["States"]))
        if state.get("Resource") == "arn:aws:states:::lambda:invoke":
            found.append((name, state["Parameters"]["FunctionName"].removeprefix("${").removesuffix("Arn}")))
    return found


def test_the_project_template_is_costed_from_its_own_definitions() -> None:
    # Given the project's template at its defaults and its file workflow's definition
    facts = cost.read_template(ROOT / "template.yaml")
    definition = json.loads((ROOT / "statemachines" / "file-workflow.asl.json").read_text())
    # When the file path is read
    called = [t.target for t in cost.tasks(facts.machines["FileWorkflow"].steps) if t.kind == "lambda"]
    # Then it calls every Lambda task of the definition but the refusal branch's, in order
    expected = [fn for state, fn in _lambda_states(definition["States"]) if state != "Quarantine"]
    assert called == expected
    # And a million files cost less as EXPRESS than as STANDARD
    prices, profile = cost.load_prices(), cost.Profile(files=1_000_000)
    express = cost.estimate(facts, profile, prices, workflow_type="EXPRESS").total
    standard = cost.estimate(facts, profile, prices, workflow_type="STANDARD").total
    assert 0 < express < standard


def test_the_price_list_states_its_date_region_and_sources() -> None:
    prices = cost.load_prices()
    assert prices.region == "us-east-1"
    assert prices.checked.count("-") == 2
    assert all(p.source.startswith("https://aws.amazon.com/") for p in prices.items.values())


def test_json_parses_and_its_totals_match_the_line_items(template: Path) -> None:
    # When `pipeline cost --json` runs on the small template
    result = runner.invoke(
        app, ["cost", "--template", str(template), "--files", "1000", "--changes", "10", "--json"]
    )
    # Then the output is JSON whose services and total add up from its line items
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["prices"]["free_tiers"] == "ignored"
    assert sum(i["usd"] for i in data["items"]) == pytest.approx(data["total_usd"], abs=1e-5)
    assert sum(data["services"].values()) == pytest.approx(data["total_usd"], abs=1e-5)
    assert data["profile"] == {"files": 1000, "changes": 10, "notifications": 0, "gets": 0}


def test_the_table_fits_80_columns_and_states_its_assumptions(template: Path) -> None:
    # When `pipeline cost` prints tables in an 80-column terminal
    result = runner.invoke(
        app,
        ["cost", "--template", str(template), "--workflow-type", "STANDARD", "--gets", "1000"],
        env={"COLUMNS": "80"},
    )
    # Then it shows a table per service, the total with the one JSON gives, and the assumptions
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    words = " ".join(result.output.split())
    for text in (
        "Step Functions",
        "CloudFront",
        "Total per month, STANDARD",
        "free tiers ignored",
        "checked",
    ):
        assert text in words
    data = json.loads(
        runner.invoke(
            app,
            ["cost", "--template", str(template), "--workflow-type", "STANDARD", "--gets", "1000", "--json"],
        ).output
    )
    assert f"${data['total_usd']:,.2f}" in result.output


def test_a_bad_workflow_type_on_the_command_line_says_what_to_give(template: Path) -> None:
    result = runner.invoke(app, ["cost", "--template", str(template), "--workflow-type", "fast"])
    assert result.exit_code == 1
    assert "neither EXPRESS nor STANDARD" in " ".join(result.output.split())
