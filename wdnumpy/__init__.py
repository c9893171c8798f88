"""wdnumpy: Wide & Deep (Cheng et al., DLRS 2016) in NumPy, every gradient by hand."""
from .batch import Batch, EmbeddingField, bags_from_lists
from .model import WideDeep

__version__ = "0.1.0"
__all__ = ["Batch", "EmbeddingField", "WideDeep", "bags_from_lists", "__version__"]
