"""Pydantic models of the records the builder reads and of the row it writes."""

from schemas.disease import DiseaseRecord
from schemas.drug import DrugRecord
from schemas.qa import QARecord
from schemas.row import OutputRow

RECORD_MODELS = {"drug": DrugRecord, "disease": DiseaseRecord, "qa": QARecord}
KB_KINDS = ("drug", "disease")

__all__ = ["DiseaseRecord", "DrugRecord", "KB_KINDS", "OutputRow", "QARecord", "RECORD_MODELS"]
