"""Small real trainings on the dialog bAbI data in ../shared (skipped where it is absent)."""

import json

from click.testing import CliRunner

from memchat.cli import cli


def test_task1_reaches_99_percent_dev(babi, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(babi), "--task", "1", "--out", str(tmp_path), "--epochs", "6"])
    assert result.exit_code == 0, result.output
    bundle = result.stdout.strip().splitlines()[-1]
    result = runner.invoke(cli, ["evaluate", bundle, str(babi / "dialog-babi-task1-API-calls-dev.txt"), "--json"])
    scores = json.loads(result.stdout)
    assert scores["responses"] == 6015
    assert scores["per_response"] >= 0.99
    meta = json.loads((tmp_path / bundle.split("/")[-1] / "metadata.json").read_text())
    assert meta["data"]["candidates"].endswith("dialog-babi-candidates.txt")
    assert len(meta["candidates"]) == 4212
    # the knowledge base's 7 relations, and restaurant names as entities of their own (context features)
    assert meta["entity_types"] == ["R_address", "R_cuisine", "R_location", "R_name", "R_number", "R_phone",
                                    "R_price", "R_rating"]
