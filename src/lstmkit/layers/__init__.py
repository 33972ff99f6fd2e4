"""Layer modules: the generic :class:`Recurrent` (stacking, directions, dropout, state,
torch.nn-compatible signatures and state_dict layout), the generic stepwise
:class:`CellModule`, and each family's thin modules (which register the family)."""

# isort: off
# (the import order is the families' registration order)
from .lstm import LSTM, LSTMCell
from .gru import GRU, GRUCell
from .rnn import RNN, RNNCell
from .cell import CellModule
from .recurrent import Recurrent, Stepper
# isort: on

__all__ = ["Recurrent", "Stepper", "CellModule", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"]
