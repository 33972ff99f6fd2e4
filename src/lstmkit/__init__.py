"""lstmkit: the long short-term memory family, complete, correct and fast, on PyTorch.

Public API only; see the README for a tour.

Example:
    >>> import torch, lstmkit
    >>> lstm = lstmkit.LSTM(4, 8, variant="vanilla")
    >>> out, (h, c) = lstm(torch.randn(10, 2, 4))
    >>> out.shape
    torch.Size([10, 2, 8])
"""

from .layers import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .layers.conv_lstm import ConvLSTM, ConvLSTMCell
from .layers.slstm import sLSTM
from .layers.mlstm import mLSTM, mLSTMCell
from .layers.t_lstm import TLSTM, TLSTMCell
from .layers.depth_gated import DepthGatedLSTM
from .layers.cell_graph import CellGraphRNN
from .layers.weight_drop import WeightDrop, weight_drop
from .variants import PRESETS, LSTMVariant

__version__ = "0.1.0"

__all__ = ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "ConvLSTM", "ConvLSTMCell", "sLSTM", "mLSTM", "mLSTMCell", "TLSTM", "TLSTMCell", "DepthGatedLSTM", "CellGraphRNN", "WeightDrop", "weight_drop", "LSTMVariant", "PRESETS", "__version__"]
