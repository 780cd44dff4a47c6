"""The Standpoint model: one encoder, a stance head over (target, text) pairs and a sentiment head over the text."""

from .folder import ModelFolderError, load_model_folder, save_model_folder
from .modeling import StanceSentimentModel
from .predictor import LabelScore, Predictor, StatementPrediction

__all__ = ["ModelFolderError", "load_model_folder", "save_model_folder", "StanceSentimentModel",
           "LabelScore", "Predictor", "StatementPrediction"]
