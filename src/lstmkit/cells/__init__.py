"""One time step of each cell family: pure math, no loop, no masking."""

from .base import CellSpec
from .conv_lstm import ConvLSTMCellSpec
from .elman import ElmanCellSpec
from .gru import GRUCellSpec
from .lstm import LSTMCellSpec
from .mlstm import mLSTMCellSpec
from .slstm import sLSTMCellSpec
from .t_lstm import TLSTMCellSpec
from .depth_gated import DepthGatedLSTMCellSpec

__all__ = ["CellSpec", "LSTMCellSpec", "GRUCellSpec", "ElmanCellSpec", "ConvLSTMCellSpec", "sLSTMCellSpec", "mLSTMCellSpec", "TLSTMCellSpec", "DepthGatedLSTMCellSpec"]
