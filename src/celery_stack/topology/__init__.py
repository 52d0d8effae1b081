"""The topology model, its loader and its validation rules."""

from .load import TopologyError, default_path, load, loads, parse
from .model import Fleet, Queue, Topology

__all__ = ["Fleet", "Queue", "Topology", "TopologyError", "default_path", "load", "loads", "parse"]
