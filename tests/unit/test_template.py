"""Reading and checking templates before anything is deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedded_aws.cfn_models import _generated_name, substitute_definition
from embedded_aws.errors import TemplateError, UnsupportedResourceError
from embedded_aws.template import check_supported, condition_values, load_template, plan_deploy
from tests.conftest import ROOT, TEMPLATES

SUPPORTED = {"AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::Lambda::Function", "AWS::IAM::Role"}


def test_short_form_intrinsics_load_as_their_long_form(tmp_path: Path) -> None:
    # Given a template using !Ref, !GetAtt and !Sub
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n"
        "      A: !Ref X\n      B: !GetAtt Y.Arn\n      C: !Sub '${X}-1'\n      D: !Join [',', [a, b]]\n"
    )
    # When it is loaded
    props = load_template(path)["Resources"]["Q"]["Properties"]
    # Then each tag is its Fn:: form
    assert props == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Y", "Arn"]},
        "C": {"Fn::Sub": "${X}-1"},
        "D": {"Fn::Join": [",", ["a", "b"]]},
    }


def test_a_file_without_resources_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Description: nothing here\n")
    with pytest.raises(TemplateError, match="no Resources section"):
        load_template(path)


def test_unsupported_types_are_listed_with_their_resources() -> None:
    # Given two resources of a type the embedded AWS cannot create
    template = {
        "Resources": {
            "Q": {"Type": "AWS::SQS::Queue"},
            "A": {"Type": "AWS::AppSync::GraphQLApi"},
            "B": {"Type": "AWS::AppSync::GraphQLApi"},
        }
    }
    # When it is checked, Then both types are named with the logical ids
    with pytest.raises(UnsupportedResourceError) as refused:
        check_supported(template, SUPPORTED)
    assert "AWS::AppSync::GraphQLApi (A, B)" in refused.value.message


def test_resources_behind_a_false_condition_are_not_checked() -> None:
    # Given an unsupported resource that only exists on real AWS
    template = {
        "Parameters": {"Target": {"Type": "String", "Default": "aws"}},
        "Conditions": {
            "OnAws": {"Fn::Equals": [{"Ref": "Target"}, "aws"]},
            "Local": {"Fn::Not": [{"Condition": "OnAws"}]},
        },
        "Resources": {"Cdn": {"Type": "AWS::CloudFront::Distribution", "Condition": "OnAws"}},
    }
    # When the condition is false, Then the template passes
    local = condition_values(template, {"Target": "local"}, {})
    assert local == {"OnAws": False, "Local": True}
    check_supported(template, SUPPORTED, local)
    # ...and when it is true, Then the resource is refused
    with pytest.raises(UnsupportedResourceError):
        check_supported(template, SUPPORTED, condition_values(template, {}, {}))


def test_definition_substitutions_replace_only_named_placeholders() -> None:
    definition = '{"Resource": "${FnArn}", "Other": "${NotGiven}", "Path": "$.x"}'
    assert substitute_definition(definition, {"FnArn": "arn:fn"}) == (
        '{"Resource": "arn:fn", "Other": "${NotGiven}", "Path": "$.x"}'
    )


def test_sam_plan_resolves_code_and_definitions_relative_to_the_template(tmp_path: Path) -> None:
    # Given the workflow fixture, whose CodeUri and DefinitionUri are relative paths
    plan = plan_deploy(
        TEMPLATES / "workflow.yaml",
        supported={
            "AWS::S3::Bucket",
            "AWS::Lambda::Function",
            "AWS::IAM::Role",
            "AWS::StepFunctions::StateMachine",
        },
        work_dir=tmp_path,
    )
    # Then the function's code dir is found and the template is plain CloudFormation
    assert plan.functions["Flaky"].code_dir == ROOT / "tests" / "fixtures" / "functions" / "flaky"
    assert "Transform" not in plan.template
    machine = plan.template["Resources"]["Workflow"]
    assert machine["Type"] == "AWS::StepFunctions::StateMachine"
    assert "DefinitionSubstitutions" in machine["Properties"]


def test_a_missing_code_dir_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: nowhere/\n      Handler: app.handler\n      Runtime: python3.12\n"
    )
    with pytest.raises(TemplateError, match=r"CodeUri points at .*nowhere"):
        plan_deploy(path, supported=SUPPORTED, work_dir=tmp_path)


def test_event_source_mapping_features_the_pollers_lack_are_refused() -> None:
    # Given a mapping with BisectBatchOnFunctionError, which the local pollers would silently ignore
    template = {
        "Resources": {
            "Mapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "FunctionName": "f",
                    "EventSourceArn": "q",
                    "BisectBatchOnFunctionError": True,
                },
            }
        }
    }
    # Then the deploy is refused, naming the property
    with pytest.raises(UnsupportedResourceError, match="Mapping sets BisectBatchOnFunctionError"):
        check_supported(template, {"AWS::Lambda::EventSourceMapping"})


def test_generated_state_machine_names_fit_aws_limit_and_keep_their_suffix() -> None:
    # Given the name moto generates for a state machine in a stack with a long name
    generated = f"{'long-stack-name-' * 5}MyStateMachine-ABCDEF123456"

    # When it is cut to the 80 characters AWS allows
    name = _generated_name(generated, 80)

    # Then it fits and stays unique by its suffix; a short name is kept as it is
    assert len(name) == 80
    assert name.endswith("-ABCDEF123456")
    assert _generated_name("s-Machine-XYZ", 80) == "s-Machine-XYZ"
