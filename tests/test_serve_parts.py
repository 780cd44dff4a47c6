"""The server's parts without HTTP: settings layers, document segmentation, the worker's batching, the baseline."""

import pytest

from serve.schemas import JobFailure, StatementJob
from serve.segment import BLOCK_CHARS, split_statements
from serve.settings import ServeSettings, SettingsError, settings_table


# ----------------------------------------------------------------------------------- settings

def test_settings_layers_file_env_flags(tmp_path):
    path = tmp_path / "serve.yaml"
    path.write_text("port: 9000\nmax_texts: 10\nbatch_timeout_ms: 5\n")
    s = ServeSettings.load(path, env={"STANDPOINT_MAX_TEXTS": "12", "STANDPOINT_PORT": "9001",
                                      "STANDPOINT_API_KEY": "secret"}, overrides={"port": 9002, "host": None})
    assert (s.port, s.max_texts, s.batch_timeout_ms, s.host, s.api_key) == (9002, 12, 5.0, "127.0.0.1", "secret")
    assert "secret" not in repr(s) and s.public()["api_key"] == "set"
    assert ServeSettings.load(path, env={}).api_key is None


@pytest.mark.parametrize("text,env,words", [
    ("max_txts: 3\n", {}, "unknown key(s) ['max_txts']"),
    ("api_key: abc\n", {}, "STANDPOINT_API_KEY"),
    ("port: 80\n", {}, "'port' 80"),
    ("", {"STANDPOINT_MAX_TEXTS": "many"}, "STANDPOINT_MAX_TEXTS: expected a number"),
    ("", {"STANDPOINT_MAX_TEXTS": "0"}, "'max_texts' must be positive"),
    ("host: 10.0.0.5\n", {}, "'host' '10.0.0.5'"),
    ("batch_timeout_ms: 5000\nrequest_timeout_s: 2\n", {}, "must be shorter"),
])
def test_settings_errors_name_the_key(tmp_path, text, env, words):
    path = tmp_path / "serve.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=None) as exc:
        ServeSettings.load(path, env=env)
    assert words in str(exc.value)


def test_default_settings_file_loads_and_is_documented():
    s = ServeSettings.load(env={})
    assert s.model == "artifacts/default" and s.max_texts == 64
    table = settings_table()
    assert "`STANDPOINT_MAX_TEXTS`" in table and "`STANDPOINT_API_KEY`" in table


# ----------------------------------------------------------------------------------- segmentation

def _check_offsets(document, statements):
    for s in statements:
        assert document[s.start:s.end] == s.text and s.text == s.text.strip() and s.text


def test_statements_keep_quotes_whole_and_offsets_exact():
    document = ('  He said: "We leave. Now. Forever." Then he left.\n\n'
                'The statement read: "We reject the decision.\n\nWe will never accept foreign troops." It was signed. '
                "Same sentence. Same sentence.")
    statements = split_statements(document)
    _check_offsets(document, statements)
    assert [s.text for s in statements] == [
        'He said: "We leave. Now. Forever."', "Then he left.",
        'The statement read: "We reject the decision.\n\nWe will never accept foreign troops."', "It was signed.",
        "Same sentence.", "Same sentence."]
    assert statements[-1].start > statements[-2].start  # repeated sentences map to their own place


def test_stray_quote_does_not_swallow_the_document():
    document = 'A stray " mark here. ' + "Another sentence. " * 20
    statements = split_statements(document)
    assert len(statements) == 21
    _check_offsets(document, statements)


def test_long_documents_are_split_in_blocks_without_losing_text():
    document = ('The minister said: "We will expel the troops. They must leave by June." Critics disagreed. '
                "Mr. Smith, of the U.S. Army, left at 5 p.m. on Jan. 3. ") * 150
    assert len(document) > 4 * BLOCK_CHARS
    statements = split_statements(document)
    _check_offsets(document, statements)
    assert len(statements) == 450
    assert sum(s.text.startswith('The minister said: "We will expel') for s in statements) == 150
    assert split_statements("No punctuation at all") [0].text == "No punctuation at all"
    assert split_statements(" \n ") == []


# ----------------------------------------------------------------------------------- the worker

def test_worker_runs_a_batch_in_one_call_and_a_failing_job_fails_alone(model_dir, monkeypatch):
    from prometheus_client import CollectorRegistry

    from model.predictor import Predictor
    from serve.server import BatchMetrics, StandpointAPI

    api = StandpointAPI(ServeSettings.load(env={}, overrides={"model": str(model_dir), "max_batch_size": 4}))
    api.predictor = Predictor(model_dir)
    api.metrics = BatchMetrics(registry=CollectorRegistry())
    calls = []
    original = api.predictor.predict_each
    monkeypatch.setattr(api.predictor, "predict_each", lambda texts, targets: calls.append(len(texts))
                        or original(texts, targets))
    jobs = [StatementJob(["Troops out!", "We recognise Kosovo."]),
            StatementJob(["x"], targets=["not_a_target"]),
            StatementJob(["Bases stay."], targets=["recognition"], adhoc={"nato": "the NATO alliance"},
                         spans=[(10, 21)])]
    outputs = api.predict(jobs)
    assert calls == [3]
    assert isinstance(outputs[1], JobFailure) and outputs[1].status == 422 and "not_a_target" in outputs[1].message
    first, third = api.encode_response(outputs[0]), api.encode_response(outputs[2])
    assert [r.text for r in first.results] == ["Troops out!", "We recognise Kosovo."]
    assert set(third.results[0].stances) == {"recognition", "nato"} and third.results[0].stances["nato"].adhoc
    assert (third.results[0].start, third.results[0].end) == (10, 21)


# ----------------------------------------------------------------------------------- the benchmark's baseline

def test_baseline_answers_the_same_shape(model_dir):
    from fastapi.testclient import TestClient

    from serve.baseline import build_app
    from serve.schemas import PredictionResponse

    app = build_app(model_dir, None, ServeSettings.load(env={}))
    with TestClient(app) as client:
        reply = client.post("/predict", json={"texts": ["Troops out!"], "targets": ["recognition"],
                                              "adhoc_targets": [{"id": "nato", "description": "NATO"}]})
        assert reply.status_code == 200, reply.text
        result = PredictionResponse.model_validate(reply.json()).results[0]
        assert set(result.stances) == {"recognition", "nato"} and result.stances["nato"].adhoc
        assert result.sentiment.label in ("positive", "negative", "neutral")
        assert client.post("/predict", json={"texts": []}).status_code == 422
