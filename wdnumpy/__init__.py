"""wdnumpy: Wide & Deep (Cheng et al., DLRS 2016) in NumPy, every gradient by hand."""
from .batch import Batch, bags_from_lists
from .model import EmbeddingField, WideDeep

__version__ = "0.1.0"
__all__ = ["Batch", "EmbeddingField", "WideDeep", "bags_from_lists", "__version__"]
