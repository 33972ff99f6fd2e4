"""Heads on top of the recurrent layers: a sequence model that reads out every step or the
last, a sequence classifier, a CTC recognizer, a character language model, an encoder-decoder translation model; and the model-directory format."""

from .forecaster import Forecaster
from .io import load_model, save_model
from .language import CharLM
from .recognizers import CTCRecognizer, SequenceClassifier
from .seq2seq import Seq2Seq
from .sequence import CELLS, SequenceModel

__all__ = ["SequenceModel", "CELLS", "SequenceClassifier", "CTCRecognizer", "CharLM", "save_model", "load_model", "Forecaster", "Seq2Seq"]
