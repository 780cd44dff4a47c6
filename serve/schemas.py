"""What crosses the HTTP boundary: pydantic request and response models, and the job a worker runs.

Every check on a request lives in these models, so FastAPI answers 422 (or 413 for a request
over a size limit) before the request reaches a batch, where one bad request would fail all.
The checks that depend on the served model (known target ids) and on the settings (limits)
read ``RequestLimits``, bound once per server with ``bind_request_models``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Sequence

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from standpoint.targets import TARGET_ID, validate_target

# Validation error types answered with 413 (the request is too large) instead of 422.
TOO_LARGE_ERRORS = frozenset({"too_many_texts", "document_too_long"})


@dataclass(frozen=True)
class RequestLimits:
    known_targets: tuple[str, ...]
    max_texts: int = 64
    max_document_chars: int = 100_000
    max_adhoc_targets: int = 8


def _not_blank(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("blank_text", "must not be empty or whitespace")
    return text


Text = Annotated[str, AfterValidator(_not_blank)]


class AdhocTarget(BaseModel):
    """A target the model was not configured with, scored zero-shot from its description."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="your id for it: 1-128 letters, digits, '_', '-', '.', ':'",
                    examples=["nato_enlargement"])
    description: str = Field(min_length=1, max_length=1000, examples=["NATO admitting new member states"],
                             description="what the target is, in words the model reads")

    @model_validator(mode="after")
    def _valid(self) -> "AdhocTarget":
        if not TARGET_ID.match(self.id):
            raise PydanticCustomError("bad_target_id", "id '{id}': use 1-128 letters, digits, '_', '-', '.', ':'",
                                      {"id": self.id})
        if not self.description.strip():
            raise PydanticCustomError("blank_text", "description must not be empty or whitespace")
        self.id, self.description = validate_target(self.id, self.description, where="ad-hoc target")
        return self


class TargetSelection(BaseModel):
    """Which targets each statement is scored against (shared by /predict and /analyze)."""

    model_config = ConfigDict(extra="forbid")
    limits: ClassVar[RequestLimits] = RequestLimits(known_targets=())

    targets: list[str] | None = Field(
        default=None, min_length=1,
        description="configured target ids to score; leave out for the model's default targets (see GET /info)")
    adhoc_targets: list[AdhocTarget] = Field(
        default_factory=list, description="extra targets scored zero-shot from a description; flagged adhoc")

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, ids: list[str] | None) -> list[str] | None:
        if ids is None:
            return ids
        unknown = [t for t in ids if t not in cls.limits.known_targets]
        if unknown:
            raise PydanticCustomError(
                "unknown_target", "unknown target id(s) {unknown}; known: {known}. A new target can be scored "
                "zero-shot with adhoc_targets", {"unknown": unknown, "known": ", ".join(cls.limits.known_targets)})
        repeated = sorted({t for t in ids if ids.count(t) > 1})
        if repeated:
            raise PydanticCustomError("duplicate_target", "target id(s) {ids} given more than once", {"ids": repeated})
        return ids

    @field_validator("adhoc_targets")
    @classmethod
    def _adhoc_targets(cls, adhoc: list[AdhocTarget]) -> list[AdhocTarget]:
        if len(adhoc) > cls.limits.max_adhoc_targets:
            raise PydanticCustomError("too_many_targets", "{n} ad-hoc targets, more than the limit of {limit}",
                                      {"n": len(adhoc), "limit": cls.limits.max_adhoc_targets})
        ids = [a.id for a in adhoc]
        configured = [i for i in ids if i in cls.limits.known_targets]
        if configured:
            raise PydanticCustomError("adhoc_target_clash", "id(s) {ids} are configured targets: list them in "
                                      "'targets', or give the ad-hoc target another id", {"ids": configured})
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise PydanticCustomError("duplicate_target", "ad-hoc id(s) {ids} given more than once", {"ids": repeated})
        return adhoc

    def adhoc(self) -> dict[str, str]:
        return {a.id: a.description for a in self.adhoc_targets}


class PredictRequest(TargetSelection):
    """Statements to label: one ``text`` or a list of ``texts``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"texts": ["Foreign troops must leave our country.", "We welcome the new embassy."]},
        {"text": "The bases stay.", "targets": ["foreign_military_presence"],
         "adhoc_targets": [{"id": "nato", "description": "the NATO alliance"}]}]})

    text: Text | None = Field(default=None, description="one statement (or use 'texts')")
    texts: list[Text] | None = Field(default=None, description="statements, each labelled on its own")

    @field_validator("texts", mode="before")
    @classmethod
    def _texts_size(cls, texts):
        if isinstance(texts, list):
            if not texts:
                raise PydanticCustomError("empty_list", "must hold at least one text")
            if len(texts) > cls.limits.max_texts:
                raise PydanticCustomError("too_many_texts", "{n} texts, more than the limit of {limit}; "
                                          "send them in several requests", {"n": len(texts),
                                                                             "limit": cls.limits.max_texts})
        return texts

    @model_validator(mode="after")
    def _one_of_text_texts(self) -> "PredictRequest":
        if (self.text is None) == (self.texts is None):
            raise PydanticCustomError("text_or_texts", "give 'text' (one statement) or 'texts' (a list), "
                                      + ("not both" if self.text is not None else "one of them is required"))
        return self

    def to_job(self) -> "StatementJob":
        return StatementJob(texts=list(self.texts) if self.texts is not None else [self.text],
                            targets=self.targets, adhoc=self.adhoc())


class AnalyzeRequest(TargetSelection):
    """A document, split into statements by the server."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"document": 'The minister said: "The troops will leave. All of them." The opposition disagreed.'}]})

    document: Text = Field(description="text of any length up to max_document_chars; split into statements")

    @field_validator("document", mode="before")
    @classmethod
    def _document_size(cls, document):
        if isinstance(document, str) and len(document) > cls.limits.max_document_chars:
            raise PydanticCustomError("document_too_long", "{n} characters, more than the limit of {limit}; "
                                      "send it in parts", {"n": len(document),
                                                           "limit": cls.limits.max_document_chars})
        return document

    def to_job(self, statements: Sequence) -> "StatementJob":
        return StatementJob(texts=[s.text for s in statements], targets=self.targets, adhoc=self.adhoc(),
                            spans=[(s.start, s.end) for s in statements])


def bind_request_models(limits: RequestLimits) -> tuple[type[PredictRequest], type[AnalyzeRequest]]:
    """Request models that check against this server's targets and limits (same names in the OpenAPI)."""
    bound = []
    for base in (PredictRequest, AnalyzeRequest):
        model = type(base.__name__, (base,), {"__module__": __name__, "__doc__": base.__doc__})
        model.limits = limits
        bound.append(model)
    return bound[0], bound[1]


@dataclass
class StatementJob:
    """One validated request as the inference worker gets it (plain data: it is pickled across processes)."""

    texts: list[str]
    targets: list[str] | None = None
    adhoc: dict[str, str] = field(default_factory=dict)
    spans: list[tuple[int, int]] | None = None  # document offsets, for /analyze


@dataclass
class JobFailure:
    """A job the worker could not run, answered with this status while the rest of its batch goes on."""

    status: int
    message: str


class SentimentScore(BaseModel):
    label: str = Field(description="positive, negative or neutral")
    probability: dict[str, float] = Field(description="label -> probability; they sum to 1")


class StanceScore(BaseModel):
    label: str = Field(description="favor, against or none")
    probability: dict[str, float] = Field(description="label -> probability; they sum to 1")
    adhoc: bool = Field(default=False, description="true for a target given in adhoc_targets (zero-shot)")


class StatementResult(BaseModel):
    text: str
    start: int | None = Field(default=None, description="/analyze: offset of the statement in the document "
                              "(Unicode code points, as Python indexes strings); null for /predict")
    end: int | None = Field(default=None, description="/analyze: end offset, exclusive; null for /predict")
    sentiment: SentimentScore
    stances: dict[str, StanceScore] = Field(description="target id -> stance")
    truncated: bool = Field(description="true when the statement was longer than the model's window and only "
                            "its beginning was read")


class ModelRef(BaseModel):
    name: str
    version: str


class PredictionResponse(BaseModel):
    model: ModelRef
    results: list[StatementResult]

    @classmethod
    def from_predictions(cls, name: str, version: str, job: StatementJob, predictions) -> "PredictionResponse":
        """Build from ``model.predictor.StatementPrediction`` objects, one per text of ``job``."""
        spans = job.spans or [(None, None)] * len(predictions)
        results = [StatementResult(
            text=p.text, start=start, end=end, truncated=p.truncated,
            sentiment=SentimentScore(label=p.sentiment.label, probability=p.sentiment.probability),
            stances={t: StanceScore(label=s.label, probability=s.probability, adhoc=t in job.adhoc)
                     for t, s in p.stances.items()})
            for p, (start, end) in zip(predictions, spans)]
        return cls(model=ModelRef(name=name, version=version), results=results)


class FieldError(BaseModel):
    field: str | None = Field(description="where in the request, e.g. texts[2] or adhoc_targets[0].id")
    message: str


class ErrorBody(BaseModel):
    status: int
    message: str = Field(description="one line naming the field and what would be right")
    fields: list[FieldError] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody
